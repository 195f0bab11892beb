"""State several nodes share through the database: passage embeddings (a node joins without running the model on
anything another node embedded) and the publish queue (each node's index records the newest event it covers)."""
import dataclasses
import signal
import sqlite3
import subprocess
import sys

from sqlalchemy import delete, func, select

from indexer.build import build_index
from indexer.embed_cache import EmbeddingCache, SharedEmbeddingCache, text_key
from indexer.follower import IndexFollower, indexed_event
from indexer.rule_models import KEEP as RULE_MODELS_KEPT
from indexer.rule_models import RuleModelStore
from kb.articles import parse_article
from kb.db import Database
from kb.encoders import create_encoder
from kb.engine import KnowledgeBase
from kb.models import ArticleRecord, PublishEvent, SharedEmbedding, SharedRuleModel
from kb.store import publish
from tests.helpers import ROOT, CountingEncoder, make_settings, run_together, wait_until
from tests.test_generations import NEW_ARTICLE, _publish_new_article


def test_a_new_node_builds_its_index_without_embedding_anything(kb_copy, tmp_path):
    real = create_encoder(kb_copy.embed_model)
    db = _publish_new_article(kb_copy)  # 8 new sections nobody has embedded yet
    # node A (a cache file of its own) embeds the new sections (and their titles and headings, which a full build's
    # rule background needs) and stores them for everyone
    node_a = dataclasses.replace(kb_copy, embed_cache_path=tmp_path / "a-cache.sqlite")
    encoder_a = CountingEncoder(real)
    report_a = build_index(node_a, db, encoder_a, incremental=True)
    assert report_a.added_chunks == 8 and encoder_a.texts == report_a.embedded > 8
    # node B joins: an empty data folder and an empty cache file, the same database
    node_b = make_settings(tmp_path / "b", database_url=kb_copy.database_url,
                           embed_cache_path=tmp_path / "b" / "embed-cache.sqlite")
    node_b.ensure_dirs()
    encoder_b = CountingEncoder(real)
    report_b = build_index(node_b, db, encoder_b, incremental=True)
    assert report_b.kind == "full" and report_b.chunks == report_a.chunks
    assert encoder_b.texts == 0 and report_b.embedded == 0
    # nor does it retrain the rule classifiers: the session build stored them, A kept them, B reads them
    assert (report_a.rule_model, report_b.rule_model) == ("kept", "shared")
    assert (report_b.generation / "rule_model.npz").read_bytes() == \
        (report_a.generation / "rule_model.npz").read_bytes()
    assert report_b.shared > report_b.chunks  # every chunk and rule text, all read from the database
    assert KnowledgeBase(node_b).search("彩虹卡贵宾厅", k=1)[0]["article_id"] == "test-generation-article"
    # what B read is now in its own cache file too (the next build does not go to the database for it)
    with sqlite3.connect(node_b.embed_cache_path) as conn:
        assert conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == report_b.shared
    db.engine.dispose()


def test_a_vector_only_one_node_has_locally_is_shared(kb_copy, tmp_path):
    """A node that embedded texts before the shared table existed uploads them on its next build."""
    db = Database(kb_copy.database_url)
    with db.session() as s:
        stored = s.scalar(select(func.count()).select_from(SharedEmbedding))  # what the session KB's build stored
        s.execute(delete(SharedEmbedding))
        s.execute(delete(SharedRuleModel))  # as before the shared tables existed: the build trains, embedding all
    report = build_index(kb_copy, db, incremental=False)  # every vector is in the node's cache file
    assert report.embedded == 0 and report.shared == 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(SharedEmbedding)) == stored > report.chunks
    db.engine.dispose()


def test_nodes_racing_to_store_the_same_vectors_keep_one_row_each(kb_copy, tmp_path):
    encoder = create_encoder(kb_copy.embed_model)
    texts = ["信用卡挂失后多久补卡", "理财产品是否保本", "投诉处理时限"]
    vectors = encoder.encode_passages(texts)
    items = {text_key(f"passage:{t}"): v for t, v in zip(texts, vectors)}
    db = Database(kb_copy.database_url)
    caches = [SharedEmbeddingCache(EmbeddingCache(tmp_path / f"node-{n}.sqlite"), db.engine) for n in range(4)]
    run_together(lambda cache: cache.put_many(encoder.model_id, items), caches)
    with db.session() as s:
        rows = s.execute(select(SharedEmbedding.text_key, SharedEmbedding.vector)
                         .where(SharedEmbedding.text_key.in_(items))).all()
    assert len(rows) == len(items)
    fresh = SharedEmbeddingCache(EmbeddingCache(tmp_path / "fresh.sqlite"), db.engine)
    found = fresh.get_many(encoder.model_id, list(items))
    assert all((found[k] == items[k]).all() for k in items) and fresh.fetched == len(items)
    for cache in [*caches, fresh]:
        cache.close()
    db.engine.dispose()


def test_racing_nodes_store_a_trained_rule_model_once_and_only_the_newest_are_kept(kb_copy):
    db = Database(kb_copy.database_url)
    stores = [RuleModelStore(db.engine) for _ in range(4)]
    run_together(lambda shared: shared.put("racing-key", b"model", b"background"), stores)
    assert stores[0].get("racing-key") == (b"model", b"background")
    for n in range(RULE_MODELS_KEPT):
        stores[0].put(f"later-{n}", b"m", b"b")
    with db.session() as s:
        keys = set(s.scalars(select(SharedRuleModel.model_key)))
    assert keys == {f"later-{n}" for n in range(RULE_MODELS_KEPT)}  # the racing key and the session's are gone
    assert stores[0].get("racing-key") is None
    db.engine.dispose()


def test_every_publish_is_an_event_and_a_rolled_back_one_is_not(kb_copy):
    db = Database(kb_copy.database_url)
    with db.session() as s:
        before = s.scalar(select(func.max(PublishEvent.id))) or 0
    _publish_new_article(kb_copy)
    try:
        with db.session() as s:
            publish(s, parse_article(NEW_ARTICLE.replace("彩虹卡专属权益说明", "彩虹卡权益（草稿）")), author="t")
            raise RuntimeError("the request failed before commit")
    except RuntimeError:
        pass
    with db.session() as s:
        events = s.execute(select(PublishEvent.id, PublishEvent.article_id, PublishEvent.version, PublishEvent.actor)
                           .where(PublishEvent.id > before)).all()
    assert [(a, v, who) for _, a, v, who in events] == [("test-generation-article", 1, "test")]
    db.engine.dispose()


def test_the_follower_builds_exactly_when_the_index_is_behind_the_queue(kb_copy):
    """The index's manifest is the node's high-water mark: an index that covers the newest event asks for nothing,
    one that is behind (a publish while the node was down, or a build killed before its generation went live) asks
    for one build, and the build brings the mark up to the newest event."""
    db = Database(kb_copy.database_url)
    build_index(kb_copy, db, incremental=True)
    requests = []
    follower = IndexFollower(db, lambda: requests.append(1), kb_copy.index_dir, poll_seconds=0.05).start()
    try:
        wait_until(lambda: follower.seen is not None, 30, "the follower's first look")
        assert indexed_event(kb_copy.index_dir) == follower.seen and requests == []
        _publish_new_article(kb_copy)
        wait_until(lambda: requests, 30, "the follower to ask for a build")
        report = build_index(kb_copy, db, incremental=True)
        wait_until(lambda: follower.seen == report.publish_event, 30, "the follower to read the new event")
        assert indexed_event(kb_copy.index_dir) == report.publish_event > 0
        assert len(requests) == 1  # asked once for the new event, nothing since it is covered
    finally:
        follower.stop()
        db.engine.dispose()


KILLED_PUBLISHER = """
import sys
from kb.articles import parse_article
from kb.db import Database
from kb.store import publish
db = Database(sys.argv[1])
with db.session() as s:
    publish(s, parse_article(sys.stdin.read()), author="doomed")
    s.flush()
    print("flushed", flush=True)
    __import__("time").sleep(600)  # killed here, before the commit
"""


def test_a_process_killed_in_the_middle_of_a_publish_leaves_nothing_and_blocks_nobody(kb_copy):
    """The version, its event (and on PostgreSQL the queue's lock) belong to one transaction: a publisher killed
    before its commit leaves no trace, and the next publish goes through."""
    db = Database(kb_copy.database_url)
    with db.session() as s:
        before = s.scalar(select(func.coalesce(func.max(PublishEvent.id), 0)))
    article = NEW_ARTICLE.replace("test-generation-article", "test-killed-article")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PUBLISHER, kb_copy.database_url], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.stdin.write(article)
    proc.stdin.close()
    assert proc.stdout.readline().strip() == "flushed"  # the version and the event are written, not committed
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _publish_new_article(kb_copy)  # waits for no lock the dead publisher held
    with db.session() as s:
        assert s.get(ArticleRecord, "test-killed-article") is None
        events = s.scalars(select(PublishEvent.article_id).where(PublishEvent.id > before)).all()
    assert events == ["test-generation-article"]
    db.engine.dispose()
