"""Article-level vectors for the ranker (kb/rerank.py): one embedding of the whole article, and one per label.

A chunk's vector knows its own section; whether a query is about the article at all is better seen from the whole
text (e5 reads its first 512 tokens) and from the short ways the article is named: its title, aliases, the
questions agents ask about it and its section headings (labels). Both are embedded from normalised text, as queries
are, and kept in ``articles.npz`` as float16 (half the memory; a cosine moves by about 1e-4). An update copies the
rows of unchanged articles from the base generation and embeds only the new and changed ones (through the shared
embedding cache, so a joining node embeds nothing).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kb.articles import Article
from kb.normalize import normalize

ARTICLE_VECTORS = "articles.npz"


def article_text(article: Article, records: list[dict]) -> str:
    """The whole article as the dense model reads it: title, then each section's heading and text."""
    parts = [article.title]
    for record in records:
        if record["heading"] and record["heading"] != article.title:
            parts.append(record["heading"])
        parts.append(record["plain"])
    return normalize("\n".join(p for p in parts if p))


def article_labels(article: Article, records: list[dict]) -> list[str]:
    """The short names of an article, each once: title, aliases, agents' questions, section headings."""
    names = [article.title, *article.aliases, *article.questions, *(r["heading"] for r in records)]
    return list(dict.fromkeys(n for n in (normalize(x) for x in names) if n)) or [normalize(article.id)]


def write_article_vectors(generation: Path, base: Path | None, changed: list[tuple[Article, list[dict]]],
                          kept: set[str], embedder) -> None:
    """``articles.npz`` for every live answer article: ``kept`` ones copied from ``base``, ``changed`` embedded.
    The copy is a few array selections, so an update at 50k chunks stays a small part of publish → searchable."""
    dim = embedder.encoder.dim
    ids, documents, labels, counts = [], [np.zeros((0, dim), np.float16)], [np.zeros((0, dim), np.float16)], []
    if base is not None and kept:
        with np.load(base / ARTICLE_VECTORS) as old:
            old_ids, old_counts = old["ids"], np.diff(old["label_offsets"])
            keep = np.isin(old_ids, list(kept))
            ids += old_ids[keep].tolist()
            documents.append(old["documents"][keep])
            labels.append(old["labels"][np.repeat(keep, old_counts)])
            counts += old_counts[keep].tolist()
    if changed:
        names = [article_labels(a, r) for a, r in changed]
        ids += [a.id for a, _ in changed]
        documents.append(embedder.embed([article_text(a, r) for a, r in changed], "passage", "whole articles"))
        labels.append(embedder.embed([x for n in names for x in n], "passage", "article labels"))
        counts += [len(n) for n in names]
    np.savez(generation / ARTICLE_VECTORS, ids=np.asarray(ids, dtype=str),
             documents=np.vstack(documents).astype(np.float16), labels=np.vstack(labels).astype(np.float16),
             label_offsets=np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64))
