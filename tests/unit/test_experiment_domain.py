"""Experiments' pure parts: scores, the decision rule, lifecycles, the spec, the plan."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from orchestrator.domain.dispatch import share_within_groups
from orchestrator.domain.errors import IllegalTransitionError, ValidationError
from orchestrator.domain.experiment import (
    EXPERIMENT_TRANSITIONS,
    DecideMode,
    Direction,
    Experiment,
    ExperimentStatus,
    Variant,
    VariantStatus,
    check_experiment_transition,
)
from orchestrator.domain.experiment_decision import decide, parse_score, spread
from orchestrator.domain.experiment_plan import (
    ACTIVATE,
    CLEANUP,
    DECIDE,
    DISQUALIFY,
    EVALUATE,
    FAIL,
    LAND,
    STATUS,
    VariantProgress,
    next_steps,
)
from orchestrator.domain.experiment_report import next_adr_number, render_report
from orchestrator.domain.experiment_spec import (
    ExperimentSpec,
    HypothesisSpec,
    parse_experiment_file,
    validate_spec,
    variant_copies,
    variant_track_names,
)
from orchestrator.domain.lifecycle import TrackStatus
from orchestrator.domain.models import WorkOrder

# -- scores ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stdout", "score"),
    [
        ('{"score": 0.75}\n', 0.75),
        ("warming up\nloading\n0.5\n\n", 0.5),
        ('noise\n{"ndcg": 1, "score": 3}', 3.0),
        ("42", 42.0),
        ("-1e-3\n", -0.001),
    ],
)
def test_a_score_is_read_from_the_last_line(stdout: str, score: float) -> None:
    assert parse_score(stdout, "score").score == score


@pytest.mark.parametrize(
    ("stdout", "why"),
    [
        ("", "printed nothing"),
        ("0.5\ndone\n", "neither a number nor a JSON object"),
        ('{"ndcg": 0.9}', "no 'score' key (keys: ndcg)"),
        ('{"score": "high"}', "not a finite number"),
        ('{"score": true}', "not a finite number"),
        ("NaN", "not a finite number"),
        ("[1, 2]", "not a finite number"),
    ],
)
def test_no_score_says_why(stdout: str, why: str) -> None:
    reading = parse_score(stdout, "score")
    assert reading.score is None
    assert reading.error is not None and why in reading.error


def test_spread_is_median_min_max() -> None:
    s = spread([3.0, 1.0, 2.0, 10.0])
    assert (s.median, s.low, s.high) == (2.5, 1.0, 10.0)


def _variant(track: str, scores: list[float] | None, position: int = 0, **kw: object) -> Variant:
    if scores is None:
        return Variant("e", track, position, f"h {track}", VariantStatus.DISQUALIFIED, **kw)  # type: ignore[arg-type]
    s = spread(scores)
    return Variant(
        "e",
        track,
        position,
        f"h {track}",
        VariantStatus.SCORED,
        score=s.median,
        score_min=s.low,
        score_max=s.high,
        **kw,  # type: ignore[arg-type]
    )


def test_best_median_wins_by_direction() -> None:
    variants = [_variant("a", [1, 2, 3], 0), _variant("b", [5, 6, 7], 1), _variant("c", None, 2)]
    high = decide(variants, Direction.MAX, "score")
    assert high.winner == "b" and not high.close
    low = decide(variants, Direction.MIN, "score")
    assert low.winner == "a" and "lower is better" in low.reason


def test_equal_medians_go_to_the_cheaper_then_the_smaller_change() -> None:
    cheap = [
        _variant("a", [5], 0, cost_usd=0.2, lines_added=1),
        _variant("b", [5], 1, cost_usd=0.1, lines_added=50),
    ]
    by_cost = decide(cheap, Direction.MAX, "score")
    assert by_cost.winner == "b" and "lower cost" in by_cost.reason
    small = [
        _variant("a", [5], 0, cost_usd=0.1, lines_added=9),
        _variant("b", [5], 1, cost_usd=0.1, lines_added=3),
    ]
    by_size = decide(small, Direction.MAX, "score")
    assert by_size.winner == "b" and "fewer changed lines" in by_size.reason


def test_overlapping_spreads_are_a_close_call_said_plainly() -> None:
    variants = [
        _variant("a", [0.70, 0.80, 0.90], 0),
        _variant("b", [0.75, 0.82, 0.95], 1),
        _variant("c", [0.10, 0.11, 0.12], 2),
    ]
    decision = decide(variants, Direction.MAX, "score")
    assert decision.winner == "b"
    assert decision.close == ("b", "a")
    assert decision.close_call is not None
    assert "do" in decision.close_call and "not separate" in decision.close_call
    assert "c " not in decision.close_call


def test_separate_spreads_are_no_close_call() -> None:
    variants = [_variant("a", [0.1, 0.2, 0.3], 0), _variant("b", [0.5, 0.6, 0.7], 1)]
    assert decide(variants, Direction.MAX, "score").close == ()


def test_all_disqualified_means_no_winner() -> None:
    decision = decide([_variant("a", None), _variant("b", None, 1)], Direction.MAX, "score")
    assert decision.winner is None and "disqualified" in decision.reason


# -- lifecycles ----------------------------------------------------------------------------


def test_experiment_lifecycle_final_states_go_nowhere() -> None:
    for final in (ExperimentStatus.MERGED, ExperimentStatus.FAILED, ExperimentStatus.CANCELLED):
        assert not EXPERIMENT_TRANSITIONS[final]
    for a, b in itertools.product(ExperimentStatus, ExperimentStatus):
        if b in EXPERIMENT_TRANSITIONS[a]:
            assert check_experiment_transition("x", a, b) is b
        else:
            with pytest.raises(IllegalTransitionError, match=f"from {a.value} to {b.value}"):
                check_experiment_transition("x", a, b)


def test_a_variant_cannot_win_after_disqualification() -> None:
    with pytest.raises(IllegalTransitionError):
        check_experiment_transition("t", VariantStatus.DISQUALIFIED, VariantStatus.MERGED)


# -- the spec ------------------------------------------------------------------------------


def _spec(**kw: object) -> ExperimentSpec:
    base = ExperimentSpec(
        name="emb",
        hypotheses=(HypothesisSpec("one"), HypothesisSpec("two")),
        eval_command="python eval.py",
        goal="rank",
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hypotheses": (HypothesisSpec("only"),)}, "at least 2 hypotheses"),
        ({"eval_command": "  "}, "evaluation command (--eval) is empty"),
        ({"name": "Bad Name"}, "invalid experiment name"),
        ({"metric": ""}, "metric key"),
        ({"eval_runs": 0}, "--eval-runs"),
        ({"goal": "", "wo_ids": ()}, "state the problem"),
        ({"wo_ids": ("WO-1",)}, "invalid work order id"),
        ({"hypotheses": (HypothesisSpec("x"), HypothesisSpec("x"))}, "same text"),
        ({"budget_per_variant_usd": 0.0}, "--budget-per-variant"),
    ],
)
def test_bad_specs_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_spec(_spec(**change))


def test_direction_and_decide_are_parsed_or_refused() -> None:
    assert Direction.parse("MIN") is Direction.MIN
    assert DecideMode.parse("manual") is DecideMode.MANUAL
    with pytest.raises(ValidationError, match="max or min"):
        Direction.parse("up")


def test_variant_names_are_letters_or_the_given_labels() -> None:
    spec = _spec(hypotheses=(HypothesisSpec("a"), HypothesisSpec("b", "bm25"), HypothesisSpec("c")))
    assert variant_track_names(spec) == ["emb-a", "emb-bm25", "emb-c"]


def test_the_file_form_reads_like_the_flags() -> None:
    raw = (
        b"---\nname: emb\nhypotheses:\n  - cosine\n  - {name: bm25, hypothesis: use BM25}\n"
        b"eval: python e.py\nmetric: ndcg\ndirection: min\neval_runs: 5\nwo: [WO-2026-001]\n"
        b"decide: manual\nbudget_per_variant: 2\n---\nSome notes\n"
    )
    spec = parse_experiment_file(raw)
    assert spec.hypotheses[1] == HypothesisSpec("use BM25", "bm25")
    assert (spec.metric, spec.direction, spec.eval_runs) == ("ndcg", Direction.MIN, 5)
    assert spec.wo_ids == ("WO-2026-001",) and spec.decide is DecideMode.MANUAL
    assert spec.notes == "Some notes" and spec.budget_per_variant_usd == 2.0
    with pytest.raises(ValidationError, match="unknown field"):
        parse_experiment_file(raw.replace(b"metric:", b"metrics:"))


def test_copies_carry_the_hypothesis_and_point_at_their_own_dependencies() -> None:
    first = WorkOrder(id="WO-2026-001", title="first", tags=("search",))
    second = WorkOrder(id="WO-2026-002", title="second", depends_on=("WO-2026-001", "WO-2025-999"))
    ids = {"WO-2026-001": "WO-2026-010", "WO-2026-002": "WO-2026-011"}
    copies = variant_copies([first, second], "emb", "emb-a", "use BM25", ids)
    assert [c.id for c in copies] == ["WO-2026-010", "WO-2026-011"]
    assert copies[1].depends_on == ("WO-2026-010", "WO-2025-999")
    assert "use BM25" in copies[0].context[-1]
    assert copies[0].tags == ("search", "experiment")


# -- the plan ------------------------------------------------------------------------------


def _experiment(*variants: Variant, **kw: object) -> Experiment:
    base = Experiment(
        id="e",
        project_id="p",
        name="e",
        status=ExperimentStatus.RUNNING,
        base_branch="main",
        base_commit="0" * 40,
        eval_command="true",
        metric="score",
        direction=Direction.MAX,
        eval_runs=3,
        eval_timeout_s=10,
        decide=DecideMode.AUTO,
        variants=variants,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def _progress(status: TrackStatus = TrackStatus.ACTIVE, **kw: object) -> VariantProgress:
    base = VariantProgress(status, 0, (), 0, 0.0, True)
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def _running(track: str) -> Variant:
    return Variant("e", track, 0, "h", VariantStatus.RUNNING)


def test_plan_activates_draft_variants_and_evaluates_finished_ones() -> None:
    exp = _experiment(_running("a"), _running("b"), _running("c"))
    steps = next_steps(
        exp,
        {
            "a": _progress(TrackStatus.DRAFT, unfinished=1),
            "b": _progress(unfinished=0),
            "c": _progress(unfinished=0, live_runs=1),
        },
    )
    assert [(s.kind, s.track) for s in steps] == [(ACTIVATE, "a"), (EVALUATE, "b")]


def test_plan_disqualifies_failed_work_and_overspending() -> None:
    exp = _experiment(_running("a"), _running("b"), budget_per_variant_usd=1.0)
    steps = next_steps(
        exp,
        {
            "a": _progress(unfinished=1, failed_wos=("WO-2026-003",)),
            "b": _progress(unfinished=1, cost_usd=1.5),
        },
    )
    assert [s.kind for s in steps] == [DISQUALIFY, DISQUALIFY]
    assert "WO-2026-003" in steps[0].reason and "budget" in steps[1].reason


def test_a_variant_whose_track_was_cancelled_by_hand_is_disqualified() -> None:
    exp = _experiment(_running("a"), _running("b"))
    steps = next_steps(exp, {"a": _progress(TrackStatus.CANCELLED), "b": _progress(unfinished=1)})
    assert [(s.kind, s.track) for s in steps] == [(DISQUALIFY, "a")]
    assert "cancelled by hand" in steps[0].reason


def test_plan_moves_to_deciding_then_decides_lands_or_fails() -> None:
    scored = [_variant("a", [1], 0), _variant("b", [2], 1)]
    progress = {"a": _progress(), "b": _progress()}
    assert (
        next_steps(_experiment(*scored), progress)[0]
        == next_steps(_experiment(*scored), progress)[0]
    )
    assert next_steps(_experiment(*scored), progress)[0].kind == STATUS
    deciding = _experiment(*scored, status=ExperimentStatus.DECIDING)
    assert [s.kind for s in next_steps(deciding, progress)] == [DECIDE]
    manual = dataclasses.replace(deciding, decide=DecideMode.MANUAL)
    assert next_steps(manual, progress) == []
    decided = dataclasses.replace(deciding, winner_track_id="b")
    assert [s.kind for s in next_steps(decided, progress)] == [LAND]
    blocked = {**progress, "b": _progress(TrackStatus.PAUSED)}
    assert next_steps(decided, blocked) == []
    lost = _experiment(
        _variant("a", None), _variant("b", None, 1), status=ExperimentStatus.DECIDING
    )
    assert [s.kind for s in next_steps(lost, progress)] == [FAIL]


def test_plan_cleans_up_losers_of_an_ended_experiment() -> None:
    merged = _experiment(
        _variant("a", [1], 0),
        _variant("b", [2], 1),
        status=ExperimentStatus.MERGED,
        winner_track_id="b",
    )
    progress = {"a": _progress(TrackStatus.ACTIVE), "b": _progress(TrackStatus.COMPLETED)}
    assert [(s.kind, s.track) for s in next_steps(merged, progress)] == [(CLEANUP, "a")]
    done = {"a": _progress(TrackStatus.CANCELLED, has_worktree=False), "b": progress["b"]}
    assert next_steps(merged, done) == []


# -- dispatch, report -------------------------------------------------------------------------


def test_variants_share_their_weight_equally() -> None:
    weights = share_within_groups({"a": 0.0, "b": 4.0, "x": 3.0}, {"a": "e", "b": "e"})
    assert weights == {"a": 2.0, "b": 2.0, "x": 3.0}


def test_adr_numbers_follow_the_highest() -> None:
    assert next_adr_number([]) == 1
    assert next_adr_number(["0001-a.md", "0007-b.md", "README.md"]) == 8


def test_the_report_escapes_hypotheses_in_its_table() -> None:
    evil = Variant("e", "a", 0, "x | y\n| injected | row |", VariantStatus.RUNNING)
    text = render_report(
        _experiment(evil), ["WO-1: t"], __import__("datetime").datetime(2026, 1, 1)
    )
    row = next(line for line in text.splitlines() if line.startswith("| a |"))
    assert "x \\| y \\| injected \\| row \\|" in row
    assert not any(line.startswith("| injected") for line in text.splitlines())


def test_the_sqlite_store_implements_the_experiment_contract(tmp_path: Path) -> None:
    from orchestrator.store.experiment_contract import ExperimentStore
    from orchestrator.store.sqlite_store import SQLiteStore

    store = SQLiteStore.open(tmp_path / "db.sqlite")
    try:
        assert isinstance(store, ExperimentStore)
    finally:
        store.close()
