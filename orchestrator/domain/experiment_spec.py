"""What ``orch experiment start`` is given, from flags or a markdown file, and its validation.

The file form is markdown with YAML frontmatter (read by the same safe rules as WO files)::

    ---
    project: myapp
    name: embeddings
    hypotheses:
      - Chunk documents and rank by cosine similarity
      - {name: bm25, hypothesis: Combine BM25 with embedding rerank}
    eval: python eval/rank.py
    metric: ndcg          # key of the JSON object on the last line (default: score)
    direction: max        # or min
    eval_runs: 3
    wo: [WO-2026-019]     # the problem's WOs, and/or a goal:
    goal: Rank documents for a query
    decide: auto          # or manual
    budget_per_variant: 2.0
    ---
    Notes: the body becomes the goal work order's notes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from orchestrator.domain.errors import ValidationError
from orchestrator.domain.experiment import DecideMode, Direction
from orchestrator.domain.ids import validate_slug, validate_wo_id
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.wo_file import read_frontmatter
from orchestrator.domain.wo_rules import text_problems, work_order_problems

DEFAULT_METRIC = "score"
DEFAULT_EVAL_RUNS = 3
MIN_HYPOTHESES = 2
#: Variants of one experiment (each is a track with its own worktree and agent).
MAX_HYPOTHESES = 8
MAX_EVAL_RUNS = 50
#: Labels the variants get when the hypotheses do not name them.
_LETTERS = "abcdefgh"
#: Tag every WO of an experiment carries.
EXPERIMENT_TAG = "experiment"

_FILE_KEYS = {
    "project",
    "name",
    "hypotheses",
    "eval",
    "metric",
    "direction",
    "eval_runs",
    "eval_timeout_s",
    "wo",
    "goal",
    "decide",
    "budget_per_variant",
}


@dataclass(frozen=True)
class HypothesisSpec:
    text: str
    #: The variant's label (its track is ``<experiment>-<label>``); None: a, b, c, ...
    label: str | None = None


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    hypotheses: tuple[HypothesisSpec, ...]
    eval_command: str
    project: str | None = None
    metric: str = DEFAULT_METRIC
    direction: Direction = Direction.MAX
    eval_runs: int = DEFAULT_EVAL_RUNS
    #: None: the project's check timeout (limits.check_timeout_s).
    eval_timeout_s: float | None = None
    wo_ids: tuple[str, ...] = ()
    goal: str = ""
    notes: str = ""
    decide: DecideMode = DecideMode.AUTO
    budget_per_variant_usd: float | None = None


def validate_spec(spec: ExperimentSpec) -> ExperimentSpec:
    """The spec when every field obeys the rules, else the first problem as ValidationError."""
    validate_slug(spec.name, "experiment name")
    if len(spec.hypotheses) < MIN_HYPOTHESES:
        raise ValidationError(
            f"an experiment needs at least {MIN_HYPOTHESES} hypotheses "
            f"(--hypothesis TEXT, once per variant); got {len(spec.hypotheses)}"
        )
    if len(spec.hypotheses) > MAX_HYPOTHESES:
        raise ValidationError(f"at most {MAX_HYPOTHESES} hypotheses per experiment")
    texts = [h.text.strip() for h in spec.hypotheses]
    if any(not t for t in texts):
        raise ValidationError("a hypothesis is empty")
    if len(set(texts)) != len(texts):
        raise ValidationError("two hypotheses are the same text")
    # Hypotheses go into the variants' WOs: the WO text rules apply (length, escape codes).
    problems = [p for text in texts for p in text_problems("a hypothesis", text)]
    if spec.goal.strip():
        problems += work_order_problems(goal_work_order(spec))
    if problems:
        raise ValidationError("; ".join(dict.fromkeys(problems)))
    names = variant_track_names(spec)
    if len(set(names)) != len(names):
        raise ValidationError("two variants have the same name: " + ", ".join(names))
    for track in names:
        validate_slug(track, "variant track name")
    if not spec.eval_command.strip():
        raise ValidationError("the evaluation command (--eval) is empty")
    if "\n" in spec.eval_command or "\0" in spec.eval_command:
        raise ValidationError("the evaluation command must be one line")
    if not spec.metric.strip():
        raise ValidationError("the metric key (--metric) is empty")
    if not 1 <= spec.eval_runs <= MAX_EVAL_RUNS:
        raise ValidationError(f"--eval-runs must be 1..{MAX_EVAL_RUNS}, not {spec.eval_runs}")
    if spec.eval_timeout_s is not None and not spec.eval_timeout_s > 0:
        raise ValidationError("--eval-timeout must be more than 0 seconds")
    if spec.budget_per_variant_usd is not None and not spec.budget_per_variant_usd > 0:
        raise ValidationError("--budget-per-variant must be more than 0 USD")
    for wo_id in spec.wo_ids:
        validate_wo_id(wo_id)
    if len(set(spec.wo_ids)) != len(spec.wo_ids):
        raise ValidationError("a work order is given twice (--wo)")
    if not spec.wo_ids and not spec.goal.strip():
        raise ValidationError("state the problem: --wo WO-ID (one or more) and/or --goal TEXT")
    return spec


def variant_track_names(spec: ExperimentSpec) -> list[str]:
    """``<experiment>-<label>`` per hypothesis, in order."""
    return [
        f"{spec.name}-{h.label or _LETTERS[n % len(_LETTERS)]}"
        for n, h in enumerate(spec.hypotheses)
    ]


def goal_work_order(spec: ExperimentSpec) -> WorkOrder:
    """The WO a ``--goal`` becomes (its id is assigned by the store)."""
    goal = spec.goal.strip()
    title = f"Experiment {spec.name}: {goal.splitlines()[0] if goal else ''}"
    return WorkOrder(
        id="",
        title=title[:200].rstrip(),
        goal=goal,
        body=spec.notes,
        tags=(EXPERIMENT_TAG,),
        acceptance_criteria=(f"The evaluation `{spec.eval_command}` scores the result",),
    )


def hypothesis_context(experiment: str, variant: str, hypothesis: str) -> str:
    return (
        f"Experiment {experiment}, variant {variant}: carry out this work order following "
        f"the hypothesis: {hypothesis}"
    )


def variant_copies(
    originals: Sequence[WorkOrder],
    experiment: str,
    variant: str,
    hypothesis: str,
    new_ids: Mapping[str, str],
) -> list[WorkOrder]:
    """The variant's own copies of the problem's WOs: same work, the hypothesis in their
    context, dependencies among the problem's WOs pointing at the variant's own copies."""

    def tags_of(wo: WorkOrder) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*wo.tags, EXPERIMENT_TAG)))

    return [
        replace(
            wo,
            id=new_ids[wo.id],
            title=f"{wo.title} [{variant}]"[:200],
            context=(*wo.context, hypothesis_context(experiment, variant, hypothesis)),
            tags=tags_of(wo),
            depends_on=tuple(new_ids.get(d, d) for d in wo.depends_on),
            extra={},
        )
        for wo in originals
    ]


# -- the file form ---------------------------------------------------------------------------


def _text(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValidationError(f"{key!r} must be text")
    return str(value)


def _hypotheses(value: Any) -> tuple[HypothesisSpec, ...]:
    if not isinstance(value, list):
        raise ValidationError("'hypotheses' must be a list (texts, or {name, hypothesis})")
    result = []
    for item in value:
        if isinstance(item, str):
            result.append(HypothesisSpec(item))
        elif isinstance(item, dict) and isinstance(item.get("hypothesis"), str):
            label = item.get("name")
            if label is not None:
                label = validate_slug(label, "hypothesis name")
            result.append(HypothesisSpec(item["hypothesis"], label))
        else:
            raise ValidationError("each hypothesis is a text or {name: slug, hypothesis: text}")
    return tuple(result)


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{key!r} must be a number")
    return float(value)


def parse_experiment_file(raw: bytes) -> ExperimentSpec:
    """The spec in a markdown file with YAML frontmatter (validated)."""
    data, body = read_frontmatter(raw)
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise ValidationError(
            f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_FILE_KEYS))}"
        )
    wo = data.get("wo", [])
    if isinstance(wo, str):
        wo = [wo]
    if not isinstance(wo, list) or not all(isinstance(w, str) for w in wo):
        raise ValidationError("'wo' must be a list of work order ids")
    runs = _number(data, "eval_runs")
    if runs is not None and runs != int(runs):
        raise ValidationError("'eval_runs' must be a whole number")
    spec = ExperimentSpec(
        name=_text(data, "name"),
        hypotheses=_hypotheses(data.get("hypotheses", [])),
        eval_command=_text(data, "eval"),
        project=_text(data, "project") or None,
        metric=_text(data, "metric", DEFAULT_METRIC),
        direction=Direction.parse(_text(data, "direction", "max")),
        eval_runs=int(runs) if runs is not None else DEFAULT_EVAL_RUNS,
        eval_timeout_s=_number(data, "eval_timeout_s"),
        wo_ids=tuple(wo),
        goal=_text(data, "goal"),
        notes=body.strip(),
        decide=DecideMode.parse(_text(data, "decide", "auto")),
        budget_per_variant_usd=_number(data, "budget_per_variant"),
    )
    return validate_spec(spec)
