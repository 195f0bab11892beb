"""Hybrid retrieval: Whoosh BM25F and FAISS dense rankings fused into one chunk ranking, at the article level.

An answer's article is scored from four normalised signals: its best section's keyword score, the sum of its
sections' keyword scores, its best section's dense cosine and the dense cosine of the whole article (one vector per
article, stored by the indexer). A question that no single section answers word for word (a new phrasing, a FAQ
question not written down) is still recognised by the article as a whole; sections are then ordered within their
article by their own keyword and dense scores. The weights were chosen on the tuning half of the held-out benchmark
(bench/esun.py --sweep), never on the reported queries.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .index import IndexGeneration

MODES = ("hybrid", "keyword", "dense")


@dataclass(frozen=True)
class FusionParams:
    keyword_weight: float = 0.25          # the article's best section: BM25F / the query's best BM25F
    article_keyword_weight: float = 0.25  # sum of the article's sections' BM25F in the pool / the best such sum
    dense_weight: float = 0.0             # the article's best section cosine, min-max over the candidates
    article_dense_weight: float = 1.0     # the whole article's cosine, min-max over the candidates
    section_weight: float = 0.05          # a section's own signals, to order sections within an article
    candidates: int = 60
    article_candidates: int = 20          # articles taken from the whole-article ranking besides the section pools


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


def _normalise_dense(hits: list[tuple[int, float]]) -> dict[int, float]:
    if not hits:
        return {}
    scores = np.asarray([s for _, s in hits])
    low, high = float(scores.min()), float(scores.max())
    spread = max(high - low, 1e-6)
    return {cid: (score - low) / spread for cid, score in hits}


def _min_max(scores: dict) -> dict:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    spread = max(high - low, 1e-6)
    return {key: (value - low) / spread for key, value in scores.items()}


def fuse(generation: IndexGeneration, keyword_hits: list[tuple[int, float]], dense_hits: list[tuple[int, float]],
         article_scores: np.ndarray, params: FusionParams) -> list[Hit]:
    """Chunk hits scored by their article's fused score plus a small share of their own."""
    article_of = {cid: generation.chunks[cid]["article_id"] for cid, _ in keyword_hits + dense_hits}
    keyword = _normalise_keyword(keyword_hits)
    dense = _normalise_dense(dense_hits)
    raw_keyword, raw_dense = dict(keyword_hits), dict(dense_hits)
    best_keyword, keyword_sum, best_dense = {}, {}, {}
    for cid, score in keyword.items():
        aid = article_of[cid]
        best_keyword[aid] = max(best_keyword.get(aid, 0.0), score)
        keyword_sum[aid] = keyword_sum.get(aid, 0.0) + score
    for cid, score in raw_dense.items():
        aid = article_of[cid]
        best_dense[aid] = max(best_dense.get(aid, -1.0), score)
    top_articles = generation.top_articles(article_scores, params.article_candidates)
    candidates = best_keyword.keys() | best_dense.keys() | set(top_articles)
    top_sum = max(keyword_sum.values(), default=1.0) or 1.0
    best_dense = _min_max(best_dense)
    rows = generation.article_row
    whole = _min_max({aid: float(article_scores[rows[aid]]) for aid in candidates if aid in rows})
    article_score = {aid: params.keyword_weight * best_keyword.get(aid, 0.0)
                     + params.article_keyword_weight * keyword_sum.get(aid, 0.0) / top_sum
                     + params.dense_weight * best_dense.get(aid, 0.0)
                     + params.article_dense_weight * whole.get(aid, 0.0) for aid in candidates}
    total = (params.keyword_weight + params.article_keyword_weight + params.dense_weight
             + params.article_dense_weight + params.section_weight) or 1.0
    cids = set(keyword) | set(dense)
    # An article found only as a whole is answered with its first section.
    cids.update(generation.article_chunks[aid][0] for aid in top_articles if aid not in best_keyword
                and aid not in best_dense and generation.article_chunks.get(aid))
    hits = []
    for cid in cids:
        aid = generation.chunks[cid]["article_id"]
        own = (keyword.get(cid, 0.0) + dense.get(cid, 0.0)) / 2
        score = (article_score.get(aid, 0.0) + params.section_weight * own) / total
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
    article_scores = generation.article_dense(vector)
    hits = fuse(generation, keyword_hits, dense_hits, article_scores, params)[:limit]
    timings.add("fusion", started)
    return hits
