"""What the simulated worker writes for an experiment's hypothesis: real code, chosen by
the approach the hypothesis names, so that competing variants differ in what they do.

A real model reads the hypothesis and writes code that follows it; the simulator knows a
handful of retrieval approaches by their usual words and writes a working implementation
of the one a hypothesis names: a ``rank(query, documents)`` function that returns the
document indices, best first. A hypothesis naming none of them gets no ranker (its module
still records the hypothesis), which an evaluation then scores as it must.
"""

from __future__ import annotations

_COMMON = """
import math
import re
from collections import Counter


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _cosine(a: Counter, b: Counter) -> float:
    dot = sum(a[t] * b[t] for t in a if t in b)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0
"""

_OVERLAP = '''

def score(query: str, document: str) -> float:
    """How many distinct query words the document contains."""
    return float(len(set(_tokens(query)) & set(_tokens(document))))
'''

_COSINE = '''
CHUNK_WORDS = {chunk}


def score(query: str, document: str) -> float:
    """Cosine similarity of term counts; with chunks, of the document's best chunk."""
    words = _tokens(document) or [""]
    chunks = [words[i : i + CHUNK_WORDS] for i in range(0, len(words), CHUNK_WORDS)]
    wanted = Counter(_tokens(query))
    return max(_cosine(wanted, Counter(chunk)) for chunk in chunks)
'''

_BM25 = """
K1 = 1.5
B = 0.75
#: Weight of the embedding-style rerank (character trigrams) beside BM25; 0: plain BM25.
RERANK_WEIGHT = {rerank}


def _trigrams(text: str) -> Counter:
    padded = " " + " ".join(_tokens(text)) + " "
    return Counter(padded[i : i + 3] for i in range(len(padded) - 2))


def _bm25(query: list[str], docs: list[list[str]]) -> list[float]:
    n = len(docs)
    average = sum(len(d) for d in docs) / max(n, 1) or 1.0
    df = Counter(t for d in docs for t in set(d))
    scores = []
    for doc in docs:
        tf = Counter(doc)
        total = 0.0
        for term in query:
            if term not in tf:
                continue
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            norm = tf[term] + K1 * (1 - B + B * len(doc) / average)
            total += idf * tf[term] * (K1 + 1) / norm
        scores.append(total)
    return scores
"""

_RANK_BY_SCORE = '''

def rank(query: str, documents: list[str]) -> list[int]:
    """Indices of ``documents``, most relevant to ``query`` first."""
    scores = [score(query, d) for d in documents]
    return sorted(range(len(documents)), key=lambda i: (-scores[i], i))
'''

_RANK_BM25 = '''

def rank(query: str, documents: list[str]) -> list[int]:
    """Indices of ``documents``, most relevant to ``query`` first."""
    scores = _bm25(_tokens(query), [_tokens(d) for d in documents])
    if RERANK_WEIGHT:
        top = max(scores) or 1.0
        wanted = _trigrams(query)
        scores = [
            s / top + RERANK_WEIGHT * _cosine(wanted, _trigrams(d))
            for s, d in zip(scores, documents)
        ]
    return sorted(range(len(documents)), key=lambda i: (-scores[i], i))
'''


def approach_name(hypothesis: str) -> str | None:
    """The approach a hypothesis names, by its usual words; None when it names none."""
    text = hypothesis.lower()
    if "bm25" in text:
        return "bm25-hybrid" if ("hybrid" in text or "rerank" in text) else "bm25"
    if "cosine" in text:
        return "chunked-cosine" if "chunk" in text else "cosine"
    if "overlap" in text or "keyword" in text:
        return "keyword-overlap"
    return None


def approach_code(hypothesis: str) -> str | None:
    """Python source of a ``rank(query, documents)`` following the hypothesis, or None."""
    name = approach_name(hypothesis)
    if name is None:
        return None
    if name.startswith("bm25"):
        rerank = "0.3" if name == "bm25-hybrid" else "0.0"
        return _COMMON + _BM25.replace("{rerank}", rerank) + _RANK_BM25
    if name.endswith("cosine"):
        chunk = "12" if name == "chunked-cosine" else "100000"
        return _COMMON + _COSINE.replace("{chunk}", chunk) + _RANK_BY_SCORE
    return _COMMON + _OVERLAP + _RANK_BY_SCORE
