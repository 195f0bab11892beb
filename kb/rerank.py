"""The article ranker: orders the fused first tier's articles by a linear model over cheap per-article features.

Chunk-level fusion alone sees one section at a time; an article is the right answer when the query fits the article
as a whole. Each candidate article (one with a chunk among the keyword or dense first tier) gets features from the
keyword hits (its best and summed BM25F, its rank), the dense hits (its best chunk's cosine, its rank), its size, and
the article vectors (indexer/article_vectors.py: the whole article's cosine and rank, the best label's cosine).
Cosines are taken relative to the best candidate's, so one set of weights serves every query.

The weights (kb/data/ranker.json) are learned by bench/train_ranker.py on the tuning halves only (E.SUN
leave-one-out tuning documents and our content's tuning queries, bench/heldout.py); the test halves never choose them.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from .index import IndexGeneration

RANKER_FILE = Path(__file__).with_name("data") / "ranker.json"
FEATURES = ("keyword_best", "keyword_sum", "keyword_rank", "chunk_cosine", "chunk_rank", "sections",
            "article_cosine", "article_rank", "label_cosine")


@lru_cache(maxsize=1)
def ranker_weights(path: Path = RANKER_FILE) -> np.ndarray:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise RuntimeError(f"{path} was trained for features {data['features']}, this version computes "
                           f"{list(FEATURES)}: retrain with `make ranker`")
    return np.asarray(data["weights"], dtype=np.float64)


def article_features(generation: IndexGeneration, keyword_hits: list[tuple[int, float]],
                     dense_hits: list[tuple[int, float]], query_vector: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(candidate article ids, one row of FEATURES per article) for a query's first-tier chunk hits."""
    keyword_best: dict[str, float] = {}
    keyword_sum: dict[str, float] = {}
    for cid, score in keyword_hits:
        article = generation.chunks[cid]["article_id"]
        keyword_sum[article] = keyword_sum.get(article, 0.0) + score
        keyword_best.setdefault(article, score)
    chunk_best: dict[str, float] = {}
    for cid, score in dense_hits:
        chunk_best.setdefault(generation.chunks[cid]["article_id"], score)
    articles = list(dict.fromkeys([*keyword_best, *chunk_best]))
    if not articles:
        return [], np.zeros((0, len(FEATURES)))
    keyword_rank = {a: i for i, a in enumerate(keyword_best)}
    chunk_rank = {a: i for i, a in enumerate(chunk_best)}
    top_keyword = max(keyword_best.values(), default=1.0) or 1.0
    top_chunk = dense_hits[0][1] if dense_hits else 0.0
    floor_chunk = min((s for _, s in dense_hits), default=0.0)  # an article below the dense tier scores under it

    document = generation.articles.documents(articles) @ query_vector
    document_rank = np.empty(len(articles))
    document_rank[np.argsort(-document, kind="stable")] = np.arange(len(articles))
    label_vectors, starts = generation.articles.labels(articles)
    label_scores = label_vectors @ query_vector
    label = np.maximum.reduceat(label_scores, starts)

    sections = generation.manifest["articles"]
    features = np.asarray([[
        keyword_best.get(a, 0.0) / top_keyword,
        keyword_sum.get(a, 0.0) / top_keyword,
        1 / (1 + keyword_rank[a]) if a in keyword_rank else 0.0,
        chunk_best.get(a, floor_chunk) - top_chunk,
        1 / (1 + chunk_rank[a]) if a in chunk_rank else 0.0,
        np.log(len(sections[a]["cids"])),
        document[i] - document.max(),
        1 / (1 + document_rank[i]),
        label[i] - label.max(),
    ] for i, a in enumerate(articles)])
    return articles, features


def article_scores(generation: IndexGeneration, keyword_hits: list[tuple[int, float]],
                   dense_hits: list[tuple[int, float]], query_vector: np.ndarray) -> dict[str, float]:
    """The ranker's score of every candidate article (higher first)."""
    articles, features = article_features(generation, keyword_hits, dense_hits, query_vector)
    return dict(zip(articles, (features @ ranker_weights()).tolist())) if articles else {}
