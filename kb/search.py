"""Hybrid retrieval: Whoosh BM25F and FAISS dense rankings fused into one chunk ranking, ordered by article.

Fusion is a weighted sum of per-query normalised scores (keyword scores divided by the best keyword score, dense
cosines rescaled over the candidate pool); a hit's score stays that fused score (what the rules' answer links read
as confidence). In hybrid mode the first tier is then ordered by the article ranker (kb/rerank.py): articles by
their ranker score, each article's chunks by fused score. The keyword and dense modes are the plain components.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .index import IndexGeneration
from .rerank import article_scores

MODES = ("hybrid", "keyword", "dense")


@dataclass(frozen=True)
class FusionParams:
    dense_weight: float = 0.5
    candidates: int = 60


@dataclass
class Hit:
    cid: int
    score: float
    keyword_score: float = 0.0
    dense_score: float = 0.0

    def record(self, generation: IndexGeneration) -> dict:
        return generation.chunks[self.cid]


@dataclass
class Timings:
    """Seconds spent in each stage of one query (for benchmarks and the debug panel)."""

    stages: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + now - started
        return now


def _normalise_keyword(hits: list[tuple[int, float]]) -> dict[int, float]:
    if not hits:
        return {}
    top = max(score for _, score in hits) or 1.0
    return {cid: score / top for cid, score in hits}


def _normalise_dense(hits: list[tuple[int, float]], depth: int) -> dict[int, float]:
    """Cosines scaled to 0..1 between the best hit and the ``depth``-th (hits below it count 0), so deeper results
    appended after the first tier (see :func:`rank`) are scored on the first tier's scale."""
    if not hits:
        return {}
    scores = np.asarray([s for _, s in hits])
    high, low = float(scores.max()), float(np.sort(scores)[::-1][:depth].min())
    spread = max(high - low, 1e-6)
    return {cid: max(score - low, 0.0) / spread for cid, score in hits}


def fuse(keyword_hits: list[tuple[int, float]], dense_hits: list[tuple[int, float]],
         params: FusionParams) -> list[Hit]:
    keyword = _normalise_keyword(keyword_hits)
    dense = _normalise_dense(dense_hits, params.candidates)
    raw_dense = dict(dense_hits)
    raw_keyword = dict(keyword_hits)
    hits = []
    for cid in keyword.keys() | dense.keys():
        score = params.dense_weight * dense.get(cid, 0.0) + (1 - params.dense_weight) * keyword.get(cid, 0.0)
        hits.append(Hit(cid, score, raw_keyword.get(cid, 0.0), raw_dense.get(cid, 0.0)))
    hits.sort(key=lambda h: (-h.score, h.cid))
    return hits


def rank(generation: IndexGeneration, terms: tuple[str, ...], query_vector: Callable[[], np.ndarray | None],
         mode: str, params: FusionParams, limit: int, timings: Timings | None = None) -> list[Hit]:
    """Chunk hits, best first. ``query_vector`` is called after the keyword search (the embedding may still be
    computing in another thread); it may return None only in keyword mode."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    timings = timings or Timings()
    pool = max(limit, params.candidates)
    started = time.perf_counter()
    keyword_hits = generation.keyword(terms, pool) if mode != "dense" else []
    timings.add("keyword", started)
    vector = query_vector() if mode != "keyword" else None  # waits for the embedding (timed as "embed")
    started = time.perf_counter()
    dense_hits = generation.vector(vector, pool) if mode != "keyword" else []
    started = timings.add("vector", started)
    if mode == "keyword":
        return [Hit(cid, s, keyword_score=s) for cid, s in keyword_hits][:limit]
    if mode == "dense":
        return [Hit(cid, s, dense_score=s) for cid, s in dense_hits][:limit]
    first_keyword, first_dense = keyword_hits[:params.candidates], dense_hits[:params.candidates]
    hits = fuse(first_keyword, first_dense, params)
    started = timings.add("fusion", started)
    if vector is not None:
        ranked = article_scores(generation, first_keyword, first_dense, vector)
        hits.sort(key=lambda h: (-ranked[h.record(generation)["article_id"]], -h.score, h.cid))
    if pool > params.candidates:
        # deeper results (a bench's 50) come after the sidebar's ranking, never into it: a longer list would add
        # keyword scores to dense-only hits of the first tier and reorder it
        first = {hit.cid for hit in hits}
        hits += [hit for hit in fuse(keyword_hits, dense_hits, params) if hit.cid not in first]
    hits = hits[:limit]
    timings.add("rerank", started)
    return hits
