"""Build or update an index generation from the published articles in the database.

A generation holds: ``chunks/NN.json`` (answer chunks with their display data, in shards by article), ``keyword/`` (Whoosh), ``dense.faiss``
(chunk vectors, ids = chunk ids), ``rules.json`` + ``rule_examples.npy`` (disclosure/escalation rules and the
embeddings of their example utterances) and, written last, ``manifest.json``. Only a generation with a manifest can be
activated, so a build killed at any point leaves the previous generation serving.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from whoosh import index as whoosh_index

from kb.articles import ANSWER_TYPES, RULE_TYPES, Article
from kb.config import Settings
from kb.db import Database
from kb.encoders import Encoder, create_encoder
from kb.generation import CHUNK_SHARDS, FORMAT, MANIFEST, chunk_shard, current_generation, shard_path
from kb.keyword import make_schema, weighted_text
from kb.normalize import normalize
from kb.render import plain_text, quote_blocks, render_markdown
from kb.rules import BACKGROUND_LIMIT, train_rule_classifiers
from kb.store import PublishedHead, load_versions, published_heads

from .embed_cache import EmbeddingCache, text_key
from .generations import activate, new_generation_dir, prune
from .progress import Progress

# Chunk count from which a full build uses an IVF index (see new_dense_index and bench/latency.py).
IVF_THRESHOLD = 20_000


@dataclass
class BuildReport:
    generation: Path
    kind: str
    articles: int
    chunks: int
    added_chunks: int
    removed_chunks: int
    embedded: int
    cached: int
    seconds: float

    def summary(self) -> str:
        return (f"{self.kind} build: {self.articles} articles, {self.chunks} chunks (+{self.added_chunks} "
                f"-{self.removed_chunks}), embedded {self.embedded}, from cache {self.cached}, "
                f"{self.seconds:.2f}s → {self.generation.name}")


def passage_text(record: dict) -> str:
    """What the dense model sees for a chunk: title and heading give the section its topic."""
    heading = record["heading"] if record["heading"] != record["title"] else ""
    return "\n".join(part for part in (record["title"], heading, record["plain"]) if part)


def article_passage(records: list[dict]) -> str:
    """What the dense model sees for a whole article: the title, then every section's heading and text, normalised
    like the query so traditional-script articles and simplified queries meet in one form; the encoder keeps the
    first 512 tokens."""
    parts = [records[0]["title"]] if records else []
    for record in records:
        heading = record["heading"] if record["heading"] != record["title"] else ""
        parts.extend(part for part in (heading, record["plain"]) if part)
    return normalize("\n".join(parts))


def chunk_records(version_number: int, article: Article) -> list[dict]:
    records = []
    for chunk in article.chunks():
        records.append({
            "article_id": article.id, "version": version_number, "title": article.title, "type": article.type,
            "tags": article.tags, "aliases": article.aliases, "heading": chunk.heading,
            "heading_path": list(chunk.heading_path), "position": chunk.position, "markdown": chunk.markdown,
            "html": render_markdown(chunk.markdown), "scripts": quote_blocks(chunk.markdown),
            "plain": plain_text(chunk.markdown),
        })
    return records


def rule_record(version_number: int, article: Article) -> dict:
    return {"id": article.id, "type": article.type, "title": article.title, "version": version_number,
            "aliases": article.aliases, "triggers": article.triggers, "triggers_normalized": [normalize(t) for t in article.triggers],
            "examples": article.examples, "say": article.say, "steps": article.steps, "timer": article.timer,
            "body_html": render_markdown(article.body)}


class Embedder:
    """Encoder + cache: vectors come from the cache when the same text was embedded by the same model before."""

    def __init__(self, encoder: Encoder, cache: EmbeddingCache, stream=None):
        self.encoder, self.cache, self.stream = encoder, cache, stream
        self.embedded = self.cached = 0

    def embed(self, texts: list[str], kind: str, label: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        keys = [text_key(f"{kind}:{t}") for t in texts]
        found = self.cache.get_many(self.encoder.model_id, list(dict.fromkeys(keys)))
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in found))
        self.cached += len(texts) - sum(1 for k in keys if k not in found)
        if missing:
            progress = Progress(f"embedding {label}", len(missing), stream=self.stream)
            encode = self.encoder.encode_queries if kind == "query" else self.encoder.encode_passages
            for start in range(0, len(missing), 64):
                batch = missing[start:start + 64]
                vectors = encode(batch)
                new = {text_key(f"{kind}:{t}"): v for t, v in zip(batch, vectors)}
                self.cache.put_many(self.encoder.model_id, new)
                found.update(new)
                progress.advance(len(batch))
            self.embedded += len(missing)
        return np.vstack([found[k] for k in keys]).astype(np.float32)


def new_dense_index(vectors: np.ndarray) -> faiss.Index:
    """Exact inner product for small collections; past IVF_THRESHOLD chunks an inverted-file index (trained on the
    full build's vectors, kept by later updates) scans a few percent of the vectors instead of all of them."""
    dim = vectors.shape[1]
    if len(vectors) < IVF_THRESHOLD:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    nlist = int(np.sqrt(len(vectors)))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    return index


def write_chunk_shards(generation: Path, base: Path | None, chunks: dict[int, dict], changed: set[int]) -> None:
    """Write the shards that changed; hard-link the others from the base generation (files are never modified)."""
    by_shard: dict[int, list[dict]] = {}
    for cid in sorted(chunks):
        by_shard.setdefault(chunk_shard(chunks[cid]["article_id"]), []).append(chunks[cid] | {"cid": cid})
    shard_path(generation, 0).parent.mkdir()
    for shard in range(CHUNK_SHARDS):
        if base is not None and shard not in changed:
            os.link(shard_path(base, shard), shard_path(generation, shard))
        else:
            shard_path(generation, shard).write_text(json.dumps(by_shard.get(shard, []), ensure_ascii=False),
                                                     encoding="utf-8")


def write_article_vectors(generation: Path, base: Path | None, keep: set[str], new_records: list[tuple[int, dict]],
                          embedder: Embedder) -> None:
    """One vector per answer article (its whole text): kept articles' rows come from the base generation."""
    ids, rows = [], []
    if base is not None:
        old_ids = json.loads((base / "articles.json").read_text(encoding="utf-8"))
        old_vectors = np.load(base / "article_vectors.npy")
        for position, aid in enumerate(old_ids):
            if aid in keep:
                ids.append(aid)
                rows.append(old_vectors[position])
    by_article: dict[str, list[dict]] = {}
    for _, record in new_records:
        by_article.setdefault(record["article_id"], []).append(record)
    texts = [article_passage(sorted(records, key=lambda r: r["position"])) for records in by_article.values()]
    vectors = embedder.embed(texts, "passage", "articles")
    ids.extend(by_article)
    rows.extend(vectors)
    matrix = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, embedder.encoder.dim), dtype=np.float32)
    np.save(generation / "article_vectors.npy", matrix)
    (generation / "articles.json").write_text(json.dumps(ids, ensure_ascii=False), encoding="utf-8")


def background_texts(records) -> list[str]:
    """What agents ask that is not a rule: the KB's titles, section headings and aliases (a capped, stable sample)."""
    texts = set()
    for record in records:
        texts.add(record["title"])
        texts.add(record["heading_path"][-1])
        texts.update(record["aliases"])
    normalized = sorted({normalize(t) for t in texts if t.strip()})
    if len(normalized) > BACKGROUND_LIMIT:
        normalized = sorted(normalized, key=text_key)[:BACKGROUND_LIMIT]
    return normalized


def _whoosh_doc(cid: int, record: dict) -> dict:
    text = weighted_text({"title": record["title"], "aliases": " ".join(record["aliases"]),
                          "headings": record["heading"], "tags": " ".join(record["tags"]), "body": record["plain"]})
    return {"cid": cid, "article_id": record["article_id"], "type": record["type"], "text": text}


@contextmanager
def build_lock(index_dir: Path):
    """One build at a time per index directory; a second one waits (publishes are serialised, never lost)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_index(settings: Settings, db: Database | None = None, encoder: Encoder | None = None, *,
                incremental: bool = True, stream=None) -> BuildReport:
    """Build a new generation and activate it. ``incremental`` reuses the current generation where compatible."""
    stream = stream or sys.stderr
    db = db or Database(settings.database_url)
    encoder = encoder or create_encoder(settings.embed_model)
    started = time.monotonic()
    with build_lock(settings.index_dir):
        base = current_generation(settings.index_dir) if incremental else None
        base_manifest = json.loads((base / MANIFEST).read_text()) if base else None
        if base_manifest and (base_manifest.get("format") != FORMAT or base_manifest.get("model_id") != encoder.model_id):
            base, base_manifest = None, None
        indexed = base_manifest["articles"] if base_manifest else {}
        with db.session() as session:
            # Only changed answer articles and the (few) rules are loaded: at 50k chunks, loading every article
            # was most of the publish-to-searchable time.
            heads = published_heads(session)
            needed = [h.version_id for h in heads
                      if h.type in RULE_TYPES or indexed.get(h.article_id, {}).get("hash") != h.content_hash]
            loaded = load_versions(session, needed)
        published = [(h, loaded.get(h.version_id)) for h in heads]
        cache = EmbeddingCache(settings.embed_cache_path)
        try:
            generation = new_generation_dir(settings.index_dir)
            try:
                report = _write_generation(generation, published, base, base_manifest, Embedder(encoder, cache, stream),
                                           encoder)
            except BaseException:
                shutil.rmtree(generation, ignore_errors=True)
                raise
        finally:
            cache.close()
        activate(settings.index_dir, generation)
        prune(settings.index_dir)
    report.seconds = time.monotonic() - started
    return report


def _write_generation(generation: Path, published: list[tuple[PublishedHead, Article | None]], base: Path | None,
                      base_manifest: dict | None, embedder: Embedder, encoder: Encoder) -> BuildReport:
    """``published`` pairs every live article's head with its content, which is loaded (not None) for rules and
    for answer articles whose content hash differs from the base generation's."""
    answer_articles = [(h, a) for h, a in published if h.type in ANSWER_TYPES]
    hashes = {h.article_id: h.content_hash for h, _ in answer_articles}
    old_articles = base_manifest["articles"] if base_manifest else {}
    keep = {aid for aid, info in old_articles.items() if hashes.get(aid) == info["hash"]}
    removed_cids = [cid for aid, info in old_articles.items() if aid not in keep for cid in info["cids"]]

    changed_shards = {chunk_shard(aid) for aid in old_articles.keys() - keep} | \
        {chunk_shard(h.article_id) for h, _ in answer_articles if h.article_id not in keep}
    chunks: dict[int, dict] = {}  # records of the shards that must be rewritten
    if base is not None:
        for shard in changed_shards:
            for record in json.loads(shard_path(base, shard).read_text(encoding="utf-8")):
                if record["article_id"] in keep:
                    chunks[record["cid"]] = record
    next_cid = base_manifest["next_cid"] if base_manifest else 0
    articles_info = {aid: old_articles[aid] for aid in keep}
    new_records: list[tuple[int, dict]] = []
    for head, article in answer_articles:
        if head.article_id in keep:
            continue
        number = head.number
        cids = []
        for record in chunk_records(number, article):
            record["cid"] = next_cid
            chunks[next_cid] = record
            new_records.append((next_cid, record))
            cids.append(next_cid)
            next_cid += 1
        articles_info[article.id] = {"hash": hashes[article.id], "version": number, "cids": cids}

    # Keyword index: copy the base and apply the difference, or build from scratch.
    keyword_dir = generation / "keyword"
    if base is not None:
        shutil.copytree(base / "keyword", keyword_dir)
        ix = whoosh_index.open_dir(str(keyword_dir))
    else:
        keyword_dir.mkdir()
        ix = whoosh_index.create_in(str(keyword_dir), make_schema())
    writer = ix.writer(limitmb=256)
    try:
        for cid in removed_cids:
            writer.delete_by_term("cid", cid)
        progress = Progress("keyword index", len(new_records), stream=embedder.stream)
        for cid, record in new_records:
            writer.add_document(**_whoosh_doc(cid, record))
            progress.advance()
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
    ix.close()

    # Dense index: ids are chunk ids, so removal and addition are by id.
    vectors = embedder.embed([passage_text(r) for _, r in new_records], "passage", "chunks")
    if base is not None:
        dense = faiss.read_index(str(base / "dense.faiss"))
        if removed_cids:
            dense.remove_ids(np.asarray(removed_cids, dtype=np.int64))
    else:
        dense = new_dense_index(vectors)
    if new_records:
        dense.add_with_ids(vectors, np.asarray([cid for cid, _ in new_records], dtype=np.int64))
    faiss.write_index(dense, str(generation / "dense.faiss"))

    write_article_vectors(generation, base, keep, new_records, embedder)
    write_chunk_shards(generation, base, chunks, changed_shards)
    chunk_count = sum(len(info["cids"]) for info in articles_info.values())

    # Rules are few: always rebuilt whole (their example embeddings come from the cache).
    rules = [rule_record(h.number, a) for h, a in published if h.type in RULE_TYPES]
    owners, examples = [], []
    for index, rule in enumerate(rules):
        # Agents type notes (「客户骂人能挂电话吗」) as well as the customer's words: the rule's title, aliases and
        # triggers are positive examples too, besides the customer utterances written for it.
        texts = list(dict.fromkeys(normalize(t) for t in [*rule["examples"], rule["title"], *rule["aliases"],
                                                            *rule["triggers"]]))
        rule["training_texts"] = texts
        owners.extend([index] * len(texts))
        examples.extend(texts)
    example_vectors = embedder.embed(examples, "query", "rule examples")
    # The classifiers are retrained when a rule's examples change and on every full build. An update that changes
    # only answer articles keeps them: the background (negatives) is then a little stale, which is harmless, and
    # retraining on every publish would cost seconds on the publish-to-searchable path.
    model_key = text_key(json.dumps([encoder.model_id, examples, owners], ensure_ascii=False))
    if base is not None and base_manifest.get("rule_model_key") == model_key:
        shutil.copy2(base / "rule_model.npz", generation / "rule_model.npz")
    else:
        every_chunk = (r for shard in range(CHUNK_SHARDS)
                       for r in json.loads(shard_path(generation, shard).read_text(encoding="utf-8")))
        background = embedder.embed(background_texts(every_chunk), "query", "rule background")
        weights, bias = train_rule_classifiers(example_vectors, np.asarray(owners, dtype=np.int64), len(rules),
                                               background)
        np.savez(generation / "rule_model.npz", weights=weights, bias=bias)
    np.save(generation / "rule_examples.npy", example_vectors)
    (generation / "rules.json").write_text(json.dumps({"rules": rules, "example_owner": owners}, ensure_ascii=False),
                                           encoding="utf-8")
    manifest = {"format": FORMAT, "model_id": encoder.model_id, "dim": encoder.dim, "built_at": time.time(),
                "kind": "update" if base is not None else "full", "next_cid": next_cid, "articles": articles_info,
                "chunk_count": chunk_count, "rule_count": len(rules), "rule_model_key": model_key}
    (generation / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return BuildReport(generation, manifest["kind"], len(answer_articles), chunk_count, len(new_records),
                       len(removed_cids), embedder.embedded, embedder.cached, 0.0)
