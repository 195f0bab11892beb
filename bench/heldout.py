"""Held-out evaluation protocol shared by bench/esun.py and bench/content_eval.py.

Everything is split by a fixed hash (crc32) so the halves never change between runs:
- E.SUN leave-one-out: every document with two or more Q/A pairs loses one pair (chosen by hash of the doc id) from
  the indexed corpus, and that pair's question becomes a query whose answer is the document. Documents are split by
  hash of their id into a tuning half and a test half; only the tuning half's queries may choose anything (weights,
  models), only the test half's are reported.
- Our own content: bench/queries/content-eval.yaml, split by hash of the query text the same way.
"""
from __future__ import annotations

import zlib

DEPTH = 50


def half(key: str) -> str:
    """'tune' or 'test', fixed forever for a given key."""
    return "tune" if zlib.crc32(f"half:{key}".encode("utf-8")) % 2 == 0 else "test"


def leave_one_out(corpus: dict[str, list[dict]], prefix: str = "faq") -> tuple[dict, list[tuple[str, str, str]]]:
    """(corpus without the held-out pairs, [(question, article id, half)])."""
    reduced, cases = {}, []
    for pid, pairs in corpus.items():
        if len(pairs) < 2:
            reduced[pid] = pairs
            continue
        out = zlib.crc32(f"loo:{pid}".encode("utf-8")) % len(pairs)
        reduced[pid] = [p for i, p in enumerate(pairs) if i != out]
        cases.append((pairs[out]["question"].strip(), f"{prefix}-{pid}", half(pid)))
    return reduced, cases


def rankings(kb, queries: list[str], mode: str = "hybrid", depth: int = DEPTH) -> list[list[str]]:
    """Each query's article ids, best first, to ``depth`` (one hit per article), from a kb.engine.KnowledgeBase.
    The engine's candidate pool grows with the depth asked for, so a depth changes the top ranks too."""
    return [[a["article_id"] for a in kb.search(q, k=depth, mode=mode, per_article=1)] for q in queries]


def metrics(rankings: list[list[str]], expected: list[str]) -> dict:
    """R@1, R@3, R@5 and MRR (to DEPTH) of article-id rankings."""
    r1 = r3 = r5 = rr = 0.0
    for ranked, want in zip(rankings, expected):
        ranked = ranked[:DEPTH]
        rank = ranked.index(want) + 1 if want in ranked else None
        r1 += rank == 1
        r3 += rank is not None and rank <= 3
        r5 += rank is not None and rank <= 5
        rr += 1 / rank if rank else 0.0
    n = max(len(expected), 1)
    return {"R@1": r1 / n, "R@3": r3 / n, "R@5": r5 / n, "MRR": rr / n, "n": len(expected)}


def fmt(r: dict) -> str:
    return f"R@1={r['R@1']:.3f} R@5={r['R@5']:.3f} MRR={r['MRR']:.3f} (n={r['n']})"
