"""Article-level vectors for the ranker (kb/rerank.py): one embedding of the whole article, and one per label.

A chunk's vector knows its own section; whether a query is about the article at all is better seen from the whole
text (e5 reads its first 512 tokens) and from the short ways the article is named: its title, aliases, the
questions agents ask about it and its section headings (labels). Both are embedded from normalised text, as queries
are, and kept in ``articles/NN.npz`` as float16 (half the memory; a cosine moves by about 1e-4). An update rewrites
only the shards it touches and embeds only the new and changed articles (through the shared embedding cache, so a
joining node embeds nothing).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kb.articles import Article
from kb.generation import article_vectors_path, chunk_shard
from kb.normalize import normalize

from .generations import write_shards


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
                          kept: set[str], changed_shards: set[int], embedder) -> None:
    """``articles/NN.npz`` for every live answer article, in the chunk records' shards: a shard the build does not
    touch is hard-linked from ``base``; a touched one keeps the ``kept`` articles' rows and adds the ``changed``
    articles, embedded. So an update at 50k chunks rewrites one small file, not every article's vectors."""
    dim = embedder.encoder.dim
    names = [article_labels(a, r) for a, r in changed]
    documents = embedder.embed([article_text(a, r) for a, r in changed], "passage", "whole articles")
    labels = embedder.embed([x for n in names for x in n], "passage", "article labels")
    label_starts = np.concatenate([[0], np.cumsum([len(n) for n in names], dtype=np.int64)])
    new_by_shard: dict[int, list[int]] = {}
    for i, (article, _) in enumerate(changed):
        new_by_shard.setdefault(chunk_shard(article.id), []).append(i)

    def write(shard: int, path: Path) -> None:
        ids, docs, labs, counts = [], [np.zeros((0, dim), np.float16)], [np.zeros((0, dim), np.float16)], []
        if base is not None:
            with np.load(article_vectors_path(base, shard)) as old:
                old_counts = np.diff(old["label_offsets"])
                keep = np.isin(old["ids"], list(kept))
                ids += old["ids"][keep].tolist()
                docs.append(old["documents"][keep])
                labs.append(old["labels"][np.repeat(keep, old_counts)])
                counts += old_counts[keep].tolist()
        for i in new_by_shard.get(shard, []):
            ids.append(changed[i][0].id)
            docs.append(documents[i:i + 1])
            labs.append(labels[label_starts[i]:label_starts[i + 1]])
            counts.append(len(names[i]))
        np.savez(path, ids=np.asarray(ids, dtype=str), documents=np.vstack(docs).astype(np.float16),
                 labels=np.vstack(labs).astype(np.float16),
                 label_offsets=np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64))

    write_shards(article_vectors_path, generation, base, changed_shards, write)
