"""`orch demo`: a sample project, backlog and tracks, run by the daemon against the simulator.

Everything is real except the model: a git repository with a test suite, the real Claude Code
CLI in each worktree, real commits, checks and merges. ``--no-run`` sets up the same home so a
user can inspect it and run it with ``orch run`` themselves.

The sample backlog's two embeddings WOs (approach A: chunked cosine, approach B: BM25
hybrid) become one experiment with those two hypotheses: each variant writes a ranker, the
demo project's ``eval/rank_eval.py`` measures its ranking quality (nDCG@3) on a fixture of
documents and graded queries, and the better one is merged with its ADR; the other is kept.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.backlog import collect_files, import_files
from orchestrator.config import Settings, load_settings, render_default_config
from orchestrator.domain.errors import UserInputError
from orchestrator.domain.experiment_spec import ExperimentSpec, HypothesisSpec
from orchestrator.domain.ids import slugify
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.wo_file import parse_wo_file
from orchestrator.git.runner import DEFAULT_IDENTITY
from orchestrator.samples import DEMO_PROJECT_FILES, SAMPLE_WORK_ORDERS
from orchestrator.store.contract import Store
from orchestrator.store.sqlite_store import open_store

DEMO_PROJECT = "demo-app"
#: The sample WOs that state the embeddings question's two approaches.
EXPERIMENT_WOS = ("WO-2026-019", "WO-2026-020")
EXPERIMENT_NAME = "embeddings"
EXPERIMENT_GOAL = (
    "Rank the documents of eval/fixture.json for each of its queries: a function "
    "rank(query, documents) returning the document indices, most relevant first"
)

_FILES = {
    "README.md": "# demo-app\n\nA tiny project the orchestrator demo works on.\n",
    "app/__init__.py": '"""The demo application."""\n',
    "app/calc.py": (
        '"""Arithmetic the demo app needs."""\n\n\n'
        "def add(a: int, b: int) -> int:\n    return a + b\n"
    ),
    "tests/test_calc.py": (
        "from app.calc import add\n\n\ndef test_add() -> None:\n    assert add(2, 3) == 5\n"
    ),
    "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
    ".gitignore": "__pycache__/\n*.pyc\n",
}


@dataclass(frozen=True)
class DemoSetup:
    root: Path
    project_dir: Path
    home: Path
    settings: Settings
    tracks: list[str]


def _git(cwd: Path, *args: str) -> None:
    env_args = [
        "-c",
        f"user.name={DEFAULT_IDENTITY.name}",
        "-c",
        f"user.email={DEFAULT_IDENTITY.email}",
    ]
    subprocess.run(["git", *env_args, *args], cwd=cwd, check=True, capture_output=True)


def _project_files() -> dict[str, str]:
    shipped = {
        str(p.relative_to(DEMO_PROJECT_FILES)): p.read_text(encoding="utf-8")
        for p in sorted(DEMO_PROJECT_FILES.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    return {**_FILES, **shipped}


def make_sample_project(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if (path / ".git").exists():
        return
    for rel, text in _project_files().items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "Initial demo project")


def setup_demo(directory: Path | None) -> DemoSetup:
    """Create (or reuse) the demo's project and home in ``directory`` (a temp dir if None)."""
    root = (directory or Path(tempfile.mkdtemp(prefix="orch-demo-"))).resolve()
    project_dir = root / DEMO_PROJECT
    home = root / "home"
    _check_reusable(home, project_dir)
    make_sample_project(project_dir)
    config = home / "config" / "orchestrator.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    if not config.exists():
        config.write_text(
            render_default_config().replace('backend = "claude"', 'backend = "sim"'),
            encoding="utf-8",
        )
    settings = load_settings(home)
    for folder in (settings.workspaces_dir, settings.logs_dir, settings.reports_dir):
        folder.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.store_url)
    try:
        if not store.list_projects():
            # The check runs with this very interpreter, so it finds pytest wherever orch runs.
            store.add_project(
                DEMO_PROJECT, str(project_dir), "main", f"{sys.executable} -m pytest -q"
            )
        files = collect_files([SAMPLE_WORK_ORDERS])
        plain = [f for f in files if not f.name.startswith(EXPERIMENT_WOS)]
        ids = {f: parse_wo_file(str(f), f.read_bytes()).id for f in plain}
        # A home used before keeps its WOs as they are (done ones stay done): import the rest.
        known = store.wo_ids()
        fresh = [f for f in plain if ids[f] not in known]
        if fresh:
            import_files(store, DEMO_PROJECT, fresh)
        sample_ids = set(ids.values())
        tracks = _tracks_by_tag(store, sample_ids)
        _start_experiment(store, settings, [f for f in files if f not in plain])
    finally:
        store.close()
    return DemoSetup(root, project_dir, home, settings, tracks)


def _check_reusable(home: Path, project_dir: Path) -> None:
    """A directory used by an earlier demo is reused; any other home there is refused
    (before anything is written)."""
    settings = load_settings(home)
    if settings.uses_home_db and not settings.db_path.exists():
        return
    store = open_store(settings.store_url, migrate=False)
    try:
        projects = store.list_projects() if store.schema_revision() is not None else []
    finally:
        store.close()
    others = [p for p in projects if p.id != DEMO_PROJECT]
    ours = [p for p in projects if p.id == DEMO_PROJECT]
    if others or (ours and Path(ours[0].path) != project_dir):
        raise UserInputError(
            f"{home} is not a demo home (it holds other projects); choose another --dir"
        )


def _tracks_by_tag(store: Store, sample_ids: set[str]) -> list[str]:
    """One track per first tag of the sample WOs (not the experiment's), each marked ready
    so the daemon activates it."""
    existing = {t["id"] for t in store.list_tracks(project=DEMO_PROJECT)}
    groups: dict[str, list[dict[str, Any]]] = {}
    for wo in store.list_work_orders(project=DEMO_PROJECT):
        if wo["id"] not in sample_ids:
            continue
        tag = wo["tags"][0] if wo["tags"] else "general"
        groups.setdefault(slugify(tag), []).append(wo)
    for name, wos in sorted(groups.items()):
        if name not in existing:
            store.create_track(
                DEMO_PROJECT,
                name,
                "feature",
                goal=f"The {name} work orders",
                priority=min(w["priority"] for w in wos),
            )
            store.assign(name, [w["id"] for w in wos])
            store.set_track_status(name, TrackStatus.READY, reason="demo")
    return sorted(groups)


def _start_experiment(store: Store, settings: Settings, approach_files: list[Path]) -> None:
    """The two approach WOs become one experiment: their goals are its hypotheses."""
    from orchestrator.daemon.experiment_start import start_experiment

    if store.list_experiments(project=DEMO_PROJECT):
        return
    hypotheses = []
    for path in approach_files:
        wo = parse_wo_file(str(path), path.read_bytes())
        label = slugify(wo.title.partition(":")[2] or wo.title, max_len=24)
        hypotheses.append(HypothesisSpec(f"{wo.title}: {wo.goal}", label))
    start_experiment(
        store,
        settings,
        ExperimentSpec(
            name=EXPERIMENT_NAME,
            project=DEMO_PROJECT,
            hypotheses=tuple(hypotheses),
            eval_command=f"{sys.executable} eval/rank_eval.py",
            metric="ndcg_at_3",
            eval_runs=3,
            goal=EXPERIMENT_GOAL,
            notes="The demo's experiment, from the sample WOs " + " and ".join(EXPERIMENT_WOS),
        ),
    )


def _experiment_summary(store: Store) -> dict[str, Any] | None:
    found = store.list_experiments(project=DEMO_PROJECT)
    if not found:
        return None
    experiment = found[0]
    winner = next(
        (v for v in experiment.variants if v.track_id == experiment.winner_track_id), None
    )
    return {
        "id": experiment.id,
        "status": experiment.status.value,
        "metric": experiment.metric,
        "winner": experiment.winner_track_id,
        "winner_hypothesis": winner.hypothesis if winner else None,
        "decision_reason": experiment.decision_reason,
        "variants": [
            {"track": v.track_id, "status": v.status.value, "score": v.score}
            for v in experiment.variants
        ],
        "merge_commit": experiment.merge_commit,
        "report": experiment.report_path,
        "adr": experiment.adr_path,
    }


def demo_summary(setup: DemoSetup, report: Any | None) -> dict[str, Any]:
    store = open_store(setup.settings.store_url)
    try:
        counts = store.wo_counts(DEMO_PROJECT)
        tracks = store.list_tracks(project=DEMO_PROJECT)
        experiment = _experiment_summary(store)
    finally:
        store.close()
    return {
        "project_dir": str(setup.project_dir),
        "home": str(setup.home),
        "report": str(report.path) if report is not None else None,
        "work_orders": {
            "total": sum(counts.values()),
            "done": counts.get("done", 0),
            "failed": counts.get("failed", 0),
        },
        "tracks": [
            {"id": t["id"], "status": t["status"], "done": t["done_count"], "total": t["wo_count"]}
            for t in tracks
        ],
        "experiment": experiment,
        "winner": experiment["winner"] if experiment else None,
        "cost_usd": report.summary["cost_usd"] if report is not None else 0.0,
        "duration_s": report.summary["duration_s"] if report is not None else 0.0,
    }
