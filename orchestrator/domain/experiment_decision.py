"""Scores and the decision rule of an experiment: pure functions, no I/O.

- A score is read from the **last non-empty line of stdout** of the evaluation command:
  a JSON object holding the metric key, or a bare number. Anything else is no score.
- Each variant's runs give a median and a spread (min, max).
- The best median wins (by the experiment's direction); equal medians go to the lower cost,
  then to fewer changed lines, then to the earlier variant (a stable, stated order).
- When the winner's median lies within a rival's spread, or the rival's within the
  winner's, the measurement does not separate them: the decision says so plainly, and
  the judge agent may break the tie among those close candidates.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.domain.experiment import Direction, Variant, VariantStatus

#: Characters of a bad last line quoted back in a disqualification reason.
QUOTE_CHARS = 120


@dataclass(frozen=True)
class ScoreReading:
    """What the last line of one evaluation run said: a score, or why there is none."""

    score: float | None
    error: str | None = None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _quote(line: str) -> str:
    return repr(line if len(line) <= QUOTE_CHARS else line[:QUOTE_CHARS] + "...")


def parse_score(stdout: str, metric: str) -> ScoreReading:
    """The score on the last non-empty line of ``stdout``."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        return ScoreReading(None, "the evaluation printed nothing on stdout")
    last = lines[-1]
    try:
        value = json.loads(last)
    except ValueError:
        return ScoreReading(
            None,
            f"the last line of stdout is neither a number nor a JSON object: {_quote(last)}",
        )
    if isinstance(value, dict):
        if metric not in value:
            keys = ", ".join(sorted(map(str, value))) or "none"
            return ScoreReading(None, f"the JSON result has no {metric!r} key (keys: {keys})")
        number = _number(value[metric])
        if number is None:
            return ScoreReading(None, f"{metric!r} is not a finite number: {value[metric]!r}")
        return ScoreReading(number)
    number = _number(value)
    if number is None:
        return ScoreReading(None, f"the last line of stdout is not a finite number: {_quote(last)}")
    return ScoreReading(number)


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float


def spread(scores: Sequence[float]) -> Spread:
    if not scores:
        raise ValueError("no scores")
    return Spread(float(statistics.median(scores)), float(min(scores)), float(max(scores)))


@dataclass(frozen=True)
class Decision:
    """The rule's verdict: the winner, why, and the rivals it could not separate from it."""

    winner: str | None
    reason: str
    #: Track ids of the candidates the measurement does not separate from the winner
    #: (the winner first); empty when the call is clear.
    close: tuple[str, ...] = ()
    close_call: str | None = None


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def ranking(variants: Sequence[Variant], direction: Direction) -> list[Variant]:
    """Scored variants from best to worst: median, then cost, then changed lines."""
    scored = [v for v in variants if v.status is VariantStatus.SCORED and v.score is not None]
    sign = -1.0 if direction is Direction.MAX else 1.0
    return sorted(
        scored,
        key=lambda v: (sign * (v.score or 0.0), v.cost_usd, v.lines_changed, v.position),
    )


def _overlap(a: Variant, b: Variant) -> bool:
    def within(x: float | None, low: float | None, high: float | None) -> bool:
        return None not in (x, low, high) and low <= x <= high  # type: ignore[operator]

    return within(a.score, b.score_min, b.score_max) or within(b.score, a.score_min, a.score_max)


def _range(v: Variant) -> str:
    low, high = _fmt(v.score_min or 0.0), _fmt(v.score_max or 0.0)
    return f"{v.track_id} {_fmt(v.score or 0.0)} (runs {low}..{high})"


def decide(variants: Sequence[Variant], direction: Direction, metric: str) -> Decision:
    """Apply the rule to the variants as they are now (every one settled)."""
    ranked = ranking(variants, direction)
    if not ranked:
        return Decision(None, "every variant was disqualified: there is nothing to merge")
    best = ranked[0]
    better = "higher" if direction is Direction.MAX else "lower"
    if len(ranked) == 1:
        return Decision(
            best.track_id,
            f"{best.track_id} is the only variant that was scored "
            f"({metric} median {_fmt(best.score or 0.0)}); every other was disqualified",
        )
    runner_up = ranked[1]
    if best.score == runner_up.score:
        why = (
            f"{best.track_id} and {runner_up.track_id} have the same median {metric} "
            f"({_fmt(best.score or 0.0)}); {best.track_id} wins on "
            + (
                f"lower cost (${best.cost_usd:.4f} vs ${runner_up.cost_usd:.4f})"
                if best.cost_usd != runner_up.cost_usd
                else f"fewer changed lines ({best.lines_changed} vs {runner_up.lines_changed})"
                if best.lines_changed != runner_up.lines_changed
                else "the order the hypotheses were given in"
            )
        )
    else:
        why = (
            f"{best.track_id} has the best median {metric} ({_fmt(best.score or 0.0)}, "
            f"{better} is better; runner-up {runner_up.track_id} with "
            f"{_fmt(runner_up.score or 0.0)})"
        )
    close = tuple(v.track_id for v in ranked[1:] if _overlap(best, v))
    if not close:
        return Decision(best.track_id, why)
    contenders = [best, *[v for v in ranked[1:] if v.track_id in close]]
    close_call = (
        "Close call: the medians lie within each other's spread, so the measurement does "
        "not separate " + ", ".join(_range(v) for v in contenders) + "."
    )
    return Decision(best.track_id, why, (best.track_id, *close), close_call)
