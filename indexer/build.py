"""Build or update an index generation from the published articles in the database.

A generation holds: ``chunks/NN.json`` (answer chunks with their display data, in shards by article), ``keyword/``
(Whoosh), ``dense.faiss`` (chunk vectors, ids = chunk ids), ``articles/NN.npz`` (whole-article and label vectors for
the ranker), ``rules.json`` + ``rule_examples.npy`` (disclosure/escalation rules and the embeddings of their example
utterances) and, written last, ``manifest.json``. Only a generation with a manifest can be
activated, so a build killed at any point leaves the previous generation serving.
"""
from __future__ import annotations

import fcntl
import json
import logging
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from whoosh import index as whoosh_index

from kb.announce import latest_event
from kb.articles import ANSWER_TYPES, RULE_TYPES, Article
from kb.config import Settings
from kb.db import Database
from kb.encoders import Encoder, create_encoder
from kb.generation import FORMAT, MANIFEST, chunk_shard, current_generation, shard_path
from kb.keyword import make_schema, weighted_text
from kb.render import plain_text, quote_blocks, render_markdown
from kb.store import PublishedHead, load_versions, published_heads

from .article_vectors import write_article_vectors
from .embed_cache import EmbeddingCache, SharedEmbeddingCache, open_cache, text_key
from .generations import activate, new_generation_dir, prune, write_shards
from .progress import Progress
from .rule_models import RuleModelStore
from .rule_training import background_texts, rule_record, write_rules

log = logging.getLogger(__name__)

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
    shared: int = 0         # of ``cached``: vectors another node had embedded (read from the database)
    publish_event: int = 0  # the newest publish event this generation covers
    rule_model: str = ""    # where the rule classifiers came from: kept, shared (database) or trained

    def summary(self) -> str:
        return (f"{self.kind} build: {self.articles} articles, {self.chunks} chunks (+{self.added_chunks} "
                f"-{self.removed_chunks}), embedded {self.embedded}, from cache {self.cached} "
                f"(shared {self.shared}), rule classifiers {self.rule_model}, up to publish event {self.publish_event}, "
                f"{self.seconds:.2f}s → {self.generation.name}")


def passage_text(record: dict) -> str:
    """What the dense model sees for a chunk: title and heading give the section its topic."""
    heading = record["heading"] if record["heading"] != record["title"] else ""
    return "\n".join(part for part in (record["title"], heading, record["plain"]) if part)


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


class Embedder:
    """Encoder + cache: vectors come from the cache when the same text was embedded by the same model before."""

    def __init__(self, encoder: Encoder, cache: EmbeddingCache | SharedEmbeddingCache, stream=None):
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
    write_shards(shard_path, generation, base, changed, lambda shard, path: path.write_text(
        json.dumps(by_shard.get(shard, []), ensure_ascii=False), encoding="utf-8"))


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
            # The newest event first: whatever committed before it is in the heads read next, so the generation
            # covers at least every event up to it (a later one only costs one more build).
            event = latest_event(session)
            # Only changed answer articles and the (few) rules are loaded: at 50k chunks, loading every article
            # was most of the publish-to-searchable time.
            heads = published_heads(session)
            needed = [h.version_id for h in heads
                      if h.type in RULE_TYPES or indexed.get(h.article_id, {}).get("hash") != h.content_hash]
            loaded = load_versions(session, needed)
        published = [(h, loaded.get(h.version_id)) for h in heads]
        # a full build, or the first one since the shared table existed, uploads what only this node's file has
        cache = open_cache(settings, db, share_local=base_manifest is None or "publish_event" not in base_manifest)
        try:
            generation = new_generation_dir(settings.index_dir)
            embedder = Embedder(encoder, cache, stream)
            try:
                report, plan = _write_generation(generation, published, base, base_manifest, embedder, encoder, event,
                                                 RuleModelStore(db.engine))
            except BaseException:
                shutil.rmtree(generation, ignore_errors=True)
                raise
            activate(settings.index_dir, generation)
            if base is not None:
                # The publish is searchable now. An update keeps the rule classifiers, so nothing embedded the new
                # sections' titles and headings for the rules' background; embed them (cached, shared) so that a
                # node joining later, whose full build needs them, embeds nothing any node could have done.
                try:
                    embedder.embed(background_texts((r for _, r in plan.new_records), []), "query", "rule background")
                    report.embedded, report.cached = embedder.embedded, embedder.cached
                except Exception:  # only a later join is slower for it; the update itself is done
                    log.warning("could not embed the new sections' rule background", exc_info=True)
        finally:
            cache.close()
        prune(settings.index_dir)
    report.seconds, report.shared = time.monotonic() - started, cache.fetched
    return report


@dataclass
class ChunkPlan:
    """What a build changes: the chunks of new or changed answer articles, and those it drops."""
    articles_info: dict[str, dict]         # every live answer article: hash, version, chunk ids (+ requires, questions)
    chunks: dict[int, dict]                # records of the shards that must be rewritten
    new_records: list[tuple[int, dict]]    # (chunk id, record) added by this build
    removed_cids: list[int]
    changed_shards: set[int]
    next_cid: int

    @property
    def chunk_count(self) -> int:
        return sum(len(info["cids"]) for info in self.articles_info.values())


def _write_generation(generation: Path, published: list[tuple[PublishedHead, Article | None]], base: Path | None,
                      base_manifest: dict | None, embedder: Embedder, encoder: Encoder,
                      publish_event: int = 0,
                      shared_rules: RuleModelStore | None = None) -> tuple[BuildReport, "ChunkPlan"]:
    """``published`` pairs every live article's head with its content, which is loaded (not None) for rules and
    for answer articles whose content hash differs from the base generation's. Stages in order; the manifest last."""
    answer_articles = [(h, a) for h, a in published if h.type in ANSWER_TYPES]
    plan = plan_chunks(answer_articles, base, base_manifest)
    write_keyword_index(generation, base, plan, embedder.stream)
    write_dense_index(generation, base, plan, embedder)
    write_chunk_shards(generation, base, plan.chunks, plan.changed_shards)
    new_sections: dict[str, list[dict]] = {}
    for _, record in plan.new_records:
        new_sections.setdefault(record["article_id"], []).append(record)
    changed = [(a, new_sections[a.id]) for _, a in answer_articles if a is not None and a.id in new_sections]
    write_article_vectors(generation, base, changed, set(plan.articles_info) - new_sections.keys(),
                          plan.changed_shards, embedder)
    # Rules are few: always rebuilt whole (their example embeddings come from the cache).
    rules = [rule_record(h.number, a) for h, a in published if h.type in RULE_TYPES]
    model_key, rule_model = write_rules(generation, rules, plan.articles_info, base, base_manifest, embedder,
                                        encoder.model_id, shared_rules)
    manifest = {"format": FORMAT, "model_id": encoder.model_id, "dim": encoder.dim, "built_at": time.time(),
                "kind": "update" if base is not None else "full", "next_cid": plan.next_cid,
                "articles": plan.articles_info, "chunk_count": plan.chunk_count, "rule_count": len(rules),
                "rule_model_key": model_key, "publish_event": publish_event}
    (generation / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return BuildReport(generation, manifest["kind"], len(answer_articles), plan.chunk_count, len(plan.new_records),
                       len(plan.removed_cids), embedder.embedded, embedder.cached, 0.0,
                       publish_event=publish_event, rule_model=rule_model), plan


def plan_chunks(answer_articles: list[tuple[PublishedHead, Article | None]], base: Path | None,
                base_manifest: dict | None) -> ChunkPlan:
    """Keep the base generation's chunks of unchanged articles, chunk the new and changed ones with fresh ids."""
    hashes = {h.article_id: h.content_hash for h, _ in answer_articles}
    old_articles = base_manifest["articles"] if base_manifest else {}
    keep = {aid for aid, info in old_articles.items() if hashes.get(aid) == info["hash"]}
    removed_cids = [cid for aid, info in old_articles.items() if aid not in keep for cid in info["cids"]]
    changed_shards = {chunk_shard(aid) for aid in old_articles.keys() - keep} | \
        {chunk_shard(h.article_id) for h, _ in answer_articles if h.article_id not in keep}
    chunks: dict[int, dict] = {}
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
        cids = []
        for record in chunk_records(head.number, article):
            record["cid"] = next_cid
            chunks[next_cid] = record
            new_records.append((next_cid, record))
            cids.append(next_cid)
            next_cid += 1
        info = {"hash": hashes[article.id], "version": head.number, "cids": cids}
        if article.requires:
            info["requires"] = article.requires
        if article.questions:
            info["questions"] = article.questions
        articles_info[article.id] = info
    return ChunkPlan(articles_info, chunks, new_records, removed_cids, changed_shards, next_cid)


def write_keyword_index(generation: Path, base: Path | None, plan: ChunkPlan, stream) -> None:
    """Copy the base's Whoosh index and apply the difference, or build one from scratch."""
    keyword_dir = generation / "keyword"
    if base is not None:
        shutil.copytree(base / "keyword", keyword_dir)
        ix = whoosh_index.open_dir(str(keyword_dir))
    else:
        keyword_dir.mkdir()
        ix = whoosh_index.create_in(str(keyword_dir), make_schema())
    writer = ix.writer(limitmb=256)
    try:
        for cid in plan.removed_cids:
            writer.delete_by_term("cid", cid)
        progress = Progress("keyword index", len(plan.new_records), stream=stream)
        for cid, record in plan.new_records:
            writer.add_document(**_whoosh_doc(cid, record))
            progress.advance()
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
    ix.close()


def write_dense_index(generation: Path, base: Path | None, plan: ChunkPlan, embedder: Embedder) -> None:
    """FAISS ids are chunk ids, so an update removes and adds by id on a copy of the base's index."""
    vectors = embedder.embed([passage_text(r) for _, r in plan.new_records], "passage", "chunks")
    if base is not None:
        dense = faiss.read_index(str(base / "dense.faiss"))
        if plan.removed_cids:
            dense.remove_ids(np.asarray(plan.removed_cids, dtype=np.int64))
    else:
        dense = new_dense_index(vectors)
    if plan.new_records:
        dense.add_with_ids(vectors, np.asarray([cid for cid, _ in plan.new_records], dtype=np.int64))
    faiss.write_index(dense, str(generation / "dense.faiss"))
