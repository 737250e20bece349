"""Starting an experiment: validate, record the one base commit, create everything at once.

The base commit is read from the project's base branch *before* the transaction that
creates the experiment, and recorded in it; every variant's branch is later cut from that
commit (``workspace.branch_start_point``), whenever its track is activated or re-created.
Nothing is written unless every check passed (bad input changes nothing).
"""

from __future__ import annotations

from dataclasses import replace

from orchestrator.config import Settings
from orchestrator.domain.errors import OrchestratorError, UserInputError
from orchestrator.domain.experiment import Experiment
from orchestrator.domain.experiment_spec import ExperimentSpec, validate_spec
from orchestrator.git.repo import GitRepo
from orchestrator.store.contract import Store
from orchestrator.store.experiments import NewExperiment


def start_experiment(store: Store, settings: Settings, spec: ExperimentSpec) -> Experiment:
    spec = validate_spec(spec)
    project = store.get_project(spec.project) if spec.project else store.only_project()
    spec = replace(spec, project=project.id)
    try:
        base_commit = GitRepo(project.path).head(project.base_branch)
    except OrchestratorError as exc:  # a missing repository or branch: the user fixes it
        raise UserInputError(
            f"cannot read {project.base_branch} of project {project.id}: {exc}"
        ) from None
    timeout = (
        spec.eval_timeout_s
        or settings.experiments.eval_timeout_s
        or settings.limits.check_timeout_s
    )
    return store.start_experiment(
        NewExperiment(
            spec=spec,
            project=project.id,
            base_branch=project.base_branch,
            base_commit=base_commit,
            eval_timeout_s=timeout,
        )
    )
