"""The dependency graph: batch import checks, cycles, order and readiness."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.domain.errors import ValidationError, WorkOrderFileError
from orchestrator.domain.lifecycle import WOStatus
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.wo_graph import (
    batch_problems,
    find_cycle,
    format_file_problems,
    id_sort_key,
    ready_ids,
    strongly_connected,
    topological_order,
    validate_batch,
)

A, B, C, D = "WO-2026-001", "WO-2026-002", "WO-2026-003", "WO-2026-004"


def wo(wo_id: str, *deps: str) -> WorkOrder:
    return WorkOrder(id=wo_id, title=f"work {wo_id}", depends_on=deps)


def batch(*wos: WorkOrder) -> list[tuple[str, WorkOrder]]:
    return [(f"in/{w.id}.md", w) for w in wos]


# ------------------------------------------------------------------------ batch checks


def test_good_batch_passes() -> None:
    validate_batch(set(), {}, batch(wo(A), wo(B, A), wo(C, A, B)))


def test_dependencies_on_stored_work_orders_pass() -> None:
    validate_batch({A, B}, {B: (A,)}, batch(wo(C, A, B)))


def test_duplicate_ids_name_every_copy() -> None:
    files = [("x.md", wo(A)), ("y.md", wo(B)), ("z.md", wo(A))]
    assert batch_problems(set(), {}, files) == [
        ("x.md", f"duplicate id {A}: also in z.md"),
        ("z.md", f"duplicate id {A}: also in x.md"),
    ]


def test_self_dependency() -> None:
    assert batch_problems(set(), {}, batch(wo(A, A))) == [(f"in/{A}.md", f"{A} depends on itself")]


def test_unknown_dependencies_are_listed() -> None:
    problems = batch_problems({A}, {}, batch(wo(B, A, C, D)))
    assert problems == [(f"in/{B}.md", f"depends on unknown work order {C}, {D}")]


def test_cycle_within_the_batch_names_each_file_from_its_own_id() -> None:
    problems = batch_problems(set(), {}, batch(wo(A, B), wo(B, C), wo(C, A), wo(D, A)))
    assert problems == [
        (f"in/{A}.md", f"dependency cycle: {A} -> {B} -> {C} -> {A}"),
        (f"in/{B}.md", f"dependency cycle: {B} -> {C} -> {A} -> {B}"),
        (f"in/{C}.md", f"dependency cycle: {C} -> {A} -> {B} -> {C}"),
    ]


def test_cycle_through_stored_work_orders() -> None:
    # Stored: B depends on A. Re-importing A with a dependency on B closes the loop.
    problems = batch_problems({A, B}, {B: (A,)}, batch(wo(A, B)))
    assert problems == [(f"in/{A}.md", f"dependency cycle: {A} -> {B} -> {A}")]


def test_reimport_replaces_stored_dependencies() -> None:
    # Stored: A depends on B. The batch drops that edge and turns it around: no cycle.
    validate_batch({A, B}, {A: (B,)}, batch(wo(A), wo(B, A)))


def test_several_problems_of_one_file_share_its_line() -> None:
    problems = batch_problems(set(), {}, [("f.md", wo(A, A, D)), ("g.md", wo(A))])
    assert problems[0] == (
        "f.md",
        f"duplicate id {A}: also in g.md; {A} depends on itself; depends on unknown work order {D}",
    )


def test_error_message_layout() -> None:
    with pytest.raises(WorkOrderFileError) as info:
        validate_batch(set(), {}, batch(wo(A), wo(B, D), wo(C, C)))
    assert str(info.value) == (
        "2 of 3 work order files are bad:\n"
        f"  in/{B}.md: depends on unknown work order {D}\n"
        f"  in/{C}.md: {C} depends on itself"
    )


def test_message_grammar_and_unprintable_names() -> None:
    assert format_file_problems([("a\nb.md", "bad")], 1) == (
        "1 of 1 work order file is bad:\n  'a\\nb.md': bad"
    )


# --------------------------------------------------------------------- graph functions


def test_id_sort_key_orders_numbers_numerically() -> None:
    ids = ["WO-2026-1000", "other", "WO-2025-999", "WO-2026-999"]
    assert sorted(ids, key=id_sort_key) == ["WO-2025-999", "WO-2026-999", "WO-2026-1000", "other"]


def test_find_cycle() -> None:
    assert find_cycle({}) is None
    assert find_cycle({A: [B], B: [C]}) is None
    assert find_cycle({A: [A]}) == [A, A]
    assert find_cycle({C: [D], D: [C], A: [B], B: [A]}) == [A, B, A]
    # Shortest through the smallest id on a cycle: A -> D -> A beats A -> B -> C -> A.
    assert find_cycle({A: [B, D], B: [C], C: [A], D: [A]}) == [A, D, A]


def test_topological_order_is_dependencies_first_and_deterministic() -> None:
    graph = {D: [B], C: [A], B: [], A: []}
    assert topological_order(graph) == [A, B, C, D]
    assert topological_order({C: ["WO-2026-1000"], "WO-2026-999": []}) == [
        "WO-2026-999",
        "WO-2026-1000",
        C,
    ]


def test_topological_order_refuses_cycles() -> None:
    with pytest.raises(ValidationError, match=f"dependency cycle: {B} -> {C} -> {B}"):
        topological_order({A: [B], B: [C], C: [B]})


def test_long_chain_needs_no_recursion() -> None:
    n = 20_000
    chain = {f"WO-2026-{i:05d}": [f"WO-2026-{i - 1:05d}"] for i in range(1, n)}
    order = topological_order(chain)
    assert order[0] == "WO-2026-00000" and len(order) == n
    chain["WO-2026-00000"] = [f"WO-2026-{n - 1:05d}"]
    cycle = find_cycle(chain)
    assert cycle is not None and len(cycle) == n + 1


def test_strongly_connected_components() -> None:
    comps = strongly_connected({A: [B], B: [A, C], C: [], D: [D]})
    assert sorted(comps) == [[A, B], [C], [D]]


def test_ready_ids() -> None:
    statuses = {
        A: WOStatus.DONE,
        B: WOStatus.BACKLOG,
        C: WOStatus.READY,
        D: WOStatus.BACKLOG,
        "WO-2026-005": WOStatus.RUNNING,
        "WO-2026-006": WOStatus.BACKLOG,
    }
    deps = {B: [A], C: [A, B], D: [], "WO-2026-005": [], "WO-2026-006": ["WO-2026-404"]}
    assert ready_ids(statuses, deps) == {B, D}


# --------------------------------------------------------------------------- properties

node_ids = st.integers(1, 12).map(lambda n: f"WO-2026-{n:03d}")
graphs = st.dictionaries(node_ids, st.lists(node_ids, max_size=4), max_size=12)


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_cycle_and_order_agree(graph: dict[str, list[str]]) -> None:
    cycle = find_cycle(graph)
    if cycle is None:
        order = topological_order(graph)
        position = {node: n for n, node in enumerate(order)}
        assert len(position) == len(order)
        for node, deps in graph.items():
            assert all(position[dep] < position[node] for dep in deps)
    else:
        assert cycle[0] == cycle[-1]
        assert all(b in graph.get(a, ()) for a, b in pairwise(cycle))
        with pytest.raises(ValidationError, match="dependency cycle"):
            topological_order(graph)


@settings(max_examples=200, deadline=None)
@given(graphs)
def test_batch_of_a_graph_is_refused_exactly_when_it_has_a_cycle(
    graph: dict[str, list[str]],
) -> None:
    wos = [wo(node, *dict.fromkeys(deps)) for node, deps in graph.items()]
    known = set(graph)
    clean = all(dep in known for deps in graph.values() for dep in deps)
    problems = batch_problems(set(), {}, batch(*wos))
    if clean:
        assert (problems == []) == (find_cycle(graph) is None)


def test_huge_cycle_in_a_batch_is_reported_quickly() -> None:
    n = 5_000
    ids = [f"WO-2026-{i:04d}" for i in range(n)]
    wos = [wo(ids[i], ids[i - 1]) for i in range(n)]  # ids[0] depends on ids[-1]
    problems = batch_problems(set(), {}, batch(*wos))
    assert len(problems) == n
    assert problems[0][1].startswith(f"dependency cycle among {n} work orders, e.g. {ids[0]} -> ")
