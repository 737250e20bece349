"""The work order dependency graph: batch import checks, cycles, order, readiness.

A graph maps a WO id to the ids it depends on (``A -> B``: A needs B done first). Every
function is deterministic: ties are broken by id, with ``WO-2026-1000`` after
``WO-2026-999``, so messages, plans and tests do not depend on set or dict order.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Collection, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from orchestrator.domain.errors import IllegalTransitionError, ValidationError, WorkOrderFileError
from orchestrator.domain.ids import WO_ID_RE
from orchestrator.domain.lifecycle import WOStatus, check_transition
from orchestrator.domain.models import WorkOrder
from orchestrator.domain.wo_file import parse_wo_file
from orchestrator.domain.wo_rules import importable_status_problem

Graph = Mapping[str, Iterable[str]]

#: Statuses of WOs that wait for their turn; :func:`ready_ids` picks from these.
WAITING_STATUSES = frozenset({WOStatus.BACKLOG, WOStatus.READY})
#: Above this many batch files in one strongly connected tangle, one example cycle is shown.
MAX_CYCLE_SEARCHES = 200


def id_sort_key(wo_id: str) -> tuple[int, int, int, str]:
    """Sort key: WO ids by year and number, anything else after them by text."""
    match = WO_ID_RE.fullmatch(wo_id)
    if match is None:
        return (1, 0, 0, wo_id)
    return (0, int(match.group(1)), int(match.group(2)), wo_id)


# ------------------------------------------------------------------------ batch import


@dataclass(frozen=True)
class StoredWO:
    """What an import must know of a WO already stored under the same id."""

    project: str
    status: WOStatus


def parse_batch(
    existing_ids: Set[str],
    existing_deps: Mapping[str, Sequence[str]],
    files: Sequence[tuple[str, bytes | None]],
    *,
    stored: Mapping[str, StoredWO] | None = None,
    project: str | None = None,
    unreadable: Mapping[str, str] | None = None,
) -> list[tuple[str, WorkOrder]]:
    """Parse and check every ``(source, raw)`` file; all or nothing.

    Returns ``(source, WorkOrder)`` in file order, or raises one WorkOrderFileError that
    names every bad file with every reason in one go: unreadable (``raw`` None, the reason in
    ``unreadable``) and unparsable files, the batch rules (:func:`batch_problems`) and, given
    :func:`stored_problems` against the ``stored`` WOs and the target ``project``.
    """
    problems: dict[str, list[str]] = {}
    parsed: list[tuple[str, WorkOrder]] = []
    for source, raw in files:
        if raw is None:
            problems.setdefault(source, []).append((unreadable or {}).get(source, "unreadable"))
            continue
        try:
            parsed.append((source, parse_wo_file(source, raw)))
        except ValidationError as exc:
            problems.setdefault(source, []).append(str(exc))
    # A re-imported WO's stored dependencies are replaced by its file's.
    batch_ids = {wo.id for _, wo in parsed}
    kept_deps = {k: v for k, v in existing_deps.items() if k not in batch_ids}
    found = batch_problems(existing_ids, kept_deps, parsed)
    found += stored_problems(stored or {}, project, parsed)
    for source, reason in found:
        problems.setdefault(source, []).append(reason)
    if problems:
        sources = dict.fromkeys(s for s, _ in files)  # a path given twice is listed once
        ordered = [(s, "; ".join(problems[s])) for s in sources if s in problems]
        raise WorkOrderFileError(format_file_problems(ordered, len(files)))
    return parsed


def stored_problems(
    stored: Mapping[str, StoredWO], project: str | None, batch: Sequence[tuple[str, WorkOrder]]
) -> list[tuple[str, str]]:
    """``(source, reason)`` for files that clash with what is stored: a WO of another
    project, a status move the lifecycle forbids, a status only the daemon may set."""
    problems: list[tuple[str, str]] = []
    for source, wo in batch:
        current = stored.get(wo.id)
        if current is not None and project is not None and current.project != project:
            problems.append((source, f"{wo.id} belongs to project {current.project!r}"))
            continue
        status = importable_status_problem(wo, None if current is None else current.status)
        if status is not None:
            problems.append((source, status))
        elif current is not None and current.status != wo.status:
            try:
                check_transition("work order", wo.id, current.status, wo.status)
            except IllegalTransitionError as exc:
                problems.append((source, str(exc)))
    return problems


def validate_batch(
    existing_ids: Set[str],
    existing_deps: Mapping[str, Sequence[str]],
    batch: Sequence[tuple[str, WorkOrder]],
) -> None:
    """Raise WorkOrderFileError naming every file of ``batch`` that cannot be imported.

    ``existing_ids``/``existing_deps`` describe the WOs already stored; a batch WO with an
    existing id replaces that WO's dependencies (re-import updates it).
    """
    problems = batch_problems(existing_ids, existing_deps, batch)
    if problems:
        raise WorkOrderFileError(format_file_problems(problems, len(batch)))


def batch_problems(
    existing_ids: Set[str],
    existing_deps: Mapping[str, Sequence[str]],
    batch: Sequence[tuple[str, WorkOrder]],
) -> list[tuple[str, str]]:
    """``(source, reason)`` for each bad file of ``batch``, in batch order, reasons joined.

    Checks: an id given by two files, a WO depending on itself, a dependency that is
    neither stored nor in the batch, and dependency cycles through stored and batch WOs.
    """
    reasons: dict[int, list[str]] = {}
    counts = Counter(wo.id for _, wo in batch)
    sources_of: dict[str, list[str]] = {}
    for source, wo in batch:
        sources_of.setdefault(wo.id, []).append(source)
    known = set(existing_ids) | set(existing_deps) | set(counts)

    graph: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in existing_deps.items()}
    for n, (source, wo) in enumerate(batch):
        found = reasons.setdefault(n, [])
        if counts[wo.id] > 1:
            others = ", ".join(s for s in sources_of[wo.id] if s != source) or source
            found.append(f"duplicate id {wo.id}: also in {others}")
        else:
            # A duplicated id has no single set of edges; its files are rejected anyway.
            graph[wo.id] = wo.depends_on
        if wo.id in wo.depends_on:
            found.append(f"{wo.id} depends on itself")
        unknown = [d for d in wo.depends_on if d not in known]
        if unknown:
            found.append(f"depends on unknown work order {', '.join(unknown)}")

    # Self-loops are reported above; cycles are the longer loops.
    no_self_loops = {k: tuple(d for d in v if d != k) for k, v in graph.items()}
    batch_ids = {wo.id for _, wo in batch if counts[wo.id] == 1}
    on_cycle: dict[str, str] = {}
    for component in strongly_connected(no_self_loops):
        members = set(component)
        mine = sorted(members & batch_ids, key=id_sort_key)
        if len(component) < 2 or not mine:
            continue
        if len(mine) > MAX_CYCLE_SEARCHES:
            # A search per file is quadratic; a loop this big is shown by one example.
            example = " -> ".join(_shortest_cycle(no_self_loops, component[0], members) or [])
            text = f"dependency cycle among {len(component)} work orders, e.g. {example}"
            on_cycle.update(dict.fromkeys(mine, text))
            continue
        for wo_id in mine:
            cycle = _shortest_cycle(no_self_loops, wo_id, members) or []
            on_cycle[wo_id] = f"dependency cycle: {' -> '.join(cycle)}"
    for n, (_, wo) in enumerate(batch):
        if wo.id in on_cycle and counts[wo.id] == 1:
            reasons[n].append(on_cycle[wo.id])

    return [(batch[n][0], "; ".join(r)) for n, r in sorted(reasons.items()) if r]


def format_file_problems(problems: Sequence[tuple[str, str]], total: int) -> str:
    """``3 of 20 work order files are bad:`` then ``  source: reason`` lines."""
    verb = "is" if len(problems) == 1 else "are"
    noun = "file" if total == 1 else "files"
    lines = [f"{len(problems)} of {total} work order {noun} {verb} bad:"]
    # A control character in a file name would break the one-line-per-file layout.
    lines += [f"  {s if s.isprintable() else repr(s)}: {r}" for s, r in problems]
    return "\n".join(lines)


# ---------------------------------------------------------------------- graph functions


def _successors(graph: Graph, node: str) -> list[str]:
    return sorted(set(graph.get(node, ())), key=id_sort_key)


def _nodes(graph: Graph) -> list[str]:
    nodes = set(graph)
    for deps in graph.values():
        nodes.update(deps)
    return sorted(nodes, key=id_sort_key)


def strongly_connected(graph: Graph) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative: batches can be deep chains).

    Each component is sorted by id; dependencies' components come before dependants'.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in _nodes(graph):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(_successors(graph, root)))]
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(_successors(graph, nxt))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component, key=id_sort_key))
    return components


def _shortest_cycle(graph: Graph, start: str, within: Collection[str]) -> list[str] | None:
    """``[start, ..., start]`` along the fewest edges inside ``within``, or None."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in _successors(graph, node):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if nxt in within and nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return None


def find_cycle(graph: Graph) -> list[str] | None:
    """A dependency cycle such as ``["WO-1", "WO-2", "WO-1"]``, or None when acyclic.

    Deterministic: the shortest cycle through the smallest id that is on any cycle.
    A WO depending on itself is the cycle ``[id, id]``.
    """
    candidates: list[tuple[str, set[str]]] = []
    for component in strongly_connected(graph):
        if len(component) > 1:
            candidates.append((component[0], set(component)))
        elif component[0] in set(graph.get(component[0], ())):
            candidates.append((component[0], {component[0]}))
    if not candidates:
        return None
    start, members = min(candidates, key=lambda c: id_sort_key(c[0]))
    return _shortest_cycle(graph, start, members)


def topological_order(graph: Graph) -> list[str]:
    """Every id of ``graph`` (dependencies included), each after all it depends on.

    Among WOs whose dependencies are met, the smallest id comes first. Raises
    ValidationError naming a cycle when there is one.
    """
    nodes = _nodes(graph)
    pending = {n: len(_successors(graph, n)) for n in nodes}
    dependants: dict[str, list[str]] = {n: [] for n in nodes}
    for node in nodes:
        for dep in _successors(graph, node):
            dependants[dep].append(node)
    heap = [(id_sort_key(n), n) for n in nodes if pending[n] == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        _, node = heapq.heappop(heap)
        order.append(node)
        for dependant in dependants[node]:
            pending[dependant] -= 1
            if pending[dependant] == 0:
                heapq.heappush(heap, (id_sort_key(dependant), dependant))
    if len(order) < len(nodes):
        cycle = find_cycle(graph) or []
        raise ValidationError(f"dependency cycle: {' -> '.join(cycle)}")
    return order


def ready_ids(statuses: Mapping[str, WOStatus], deps: Graph) -> set[str]:
    """Waiting WOs (backlog or ready) whose every dependency is known and done.

    A dependency missing from ``statuses`` keeps its dependant waiting: an unknown WO
    is not a done one.
    """
    return {
        wo_id
        for wo_id, status in statuses.items()
        if status in WAITING_STATUSES
        and all(statuses.get(dep) == WOStatus.DONE for dep in deps.get(wo_id, ()))
    }
