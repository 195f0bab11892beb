"""The plain baselines the engine must beat, computed in the same run: bm25s over whole documents (our
normalisation + jieba search mode), e5 over whole documents, and their reciprocal-rank fusion (k=60), no tuning."""
from __future__ import annotations

import numpy as np

from indexer.build import Embedder
from indexer.embed_cache import EmbeddingCache
from kb.encoders import QueryCache
from kb.normalize import normalize, tokenize

RRF_K = 60


def rrf(*rankings: list[str], k: int = RRF_K) -> list[str]:
    scores: dict[str, float] = {}
    for ranking in rankings:
        for position, doc in enumerate(ranking):
            scores[doc] = scores.get(doc, 0.0) + 1 / (k + position + 1)
    return sorted(scores, key=lambda d: (-scores[d], d))


class PlainBaselines:
    def __init__(self, documents: dict[str, str], query_cache: QueryCache, cache_path, depth: int = 50):
        import bm25s

        self.ids = list(documents)
        self.depth = min(depth, len(self.ids))
        texts = [normalize(documents[i]) for i in self.ids]
        self.bm25 = bm25s.BM25()
        self.bm25.index([tokenize(t) or ["_"] for t in texts], show_progress=False)
        cache = EmbeddingCache(cache_path)
        try:
            self.vectors = Embedder(query_cache.encoder, cache).embed(texts, "passage", "whole documents")
        finally:
            cache.close()
        self.query_cache = query_cache

    def keyword(self, query: str) -> list[str]:
        tokens = tokenize(normalize(query))
        if not tokens:
            return []
        docs, scores = self.bm25.retrieve([tokens], k=self.depth, show_progress=False, n_threads=1)
        return [self.ids[int(d)] for d, s in zip(docs[0], scores[0]) if s > 0]

    def dense(self, query: str) -> list[str]:
        scores = self.vectors @ self.query_cache.get(normalize(query))
        return [self.ids[i] for i in np.argsort(-scores)[:self.depth]]

    def rank_all(self, query: str) -> dict[str, list[str]]:
        keyword, dense = self.keyword(query), self.dense(query)
        return {"bm25s-doc": keyword, "e5-doc": dense, "rrf": rrf(keyword, dense)}
