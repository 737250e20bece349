"""Ranking quality of the search code in wo/*.py, measured on eval/fixture.json.

Loads every module under wo/ that defines ``rank(query, documents) -> list[int]`` (the
newest by name if several), ranks the fixture's documents for each of its queries and
prints, as the last line of stdout, a JSON object: ``ndcg_at_3`` (mean nDCG@3 over the
queries, graded relevance), ``mrr`` (mean reciprocal rank of the first relevant
document) and the module measured. Exits 1, saying why on stderr, when no module ranks.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
K = 3


def rankers() -> list[tuple[str, object]]:
    found = []
    for path in sorted((ROOT / "wo").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"candidate_{path.stem}", path)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if callable(getattr(module, "rank", None)):
            found.append((f"wo/{path.name}", module.rank))
    return found


def dcg(gains: list[int]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def main() -> int:
    fixture = json.loads((ROOT / "eval" / "fixture.json").read_text(encoding="utf-8"))
    documents = fixture["documents"]
    found = rankers()
    if not found:
        print("no module in wo/ defines rank(query, documents)", file=sys.stderr)
        return 1
    name, rank = found[-1]
    ndcgs, rrs = [], []
    for case in fixture["queries"]:
        grades = {int(k): v for k, v in case["relevance"].items()}
        order = list(rank(case["query"], documents))  # type: ignore[operator]
        if sorted(order) != list(range(len(documents))):
            print(f"rank() must return every document index once, got {order}", file=sys.stderr)
            return 1
        ideal = dcg(sorted(grades.values(), reverse=True)[:K])
        ndcgs.append(dcg([grades.get(i, 0) for i in order[:K]]) / ideal)
        first = next((n for n, i in enumerate(order) if grades.get(i, 0) > 0), None)
        rrs.append(0.0 if first is None else 1.0 / (first + 1))
    result = {
        "ndcg_at_3": round(sum(ndcgs) / len(ndcgs), 4),
        "mrr": round(sum(rrs) / len(rrs), 4),
        "ranker": name,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
