"""Publish → searchable: the background updater coalesces bursts of publishes and the status reads the live index."""
from __future__ import annotations

from indexer.build import build_index
from indexer.publish import IndexUpdater, is_indexed
from kb.db import Database
from kb.engine import KnowledgeBase
from kb.models import ArticleRecord
from kb.store import publish, version_article
from tests.helpers import BUILD_TIMEOUT


def test_a_burst_of_publishes_becomes_one_build_and_is_served(kb_copy):
    db = Database(kb_copy.database_url)
    engine = KnowledgeBase(kb_copy)
    builds = []

    def counting_build(*args, **kwargs):
        builds.append(1)
        return build_index(*args, **kwargs)

    updater = IndexUpdater(kb_copy, db, settle_seconds=1.0, build=counting_build)
    before = engine.generation()  # loaded first, so the burst takes milliseconds, well inside the settle time
    edited = {}
    for article_id, words in (("lost-card-freeze", "松柏挂失热线"), ("script-greeting", "松柏问候语"),
                              ("escalation-long-wait", "松柏升级提示")):
        with db.session() as s:
            record = s.get(ArticleRecord, article_id)
            article = version_article(record.current)
            article.body += f"\n\n{words}。"
            result = publish(s, article, author="editor1", expected_version=record.version)
            edited[article_id] = (article.type, result.version, article.content_hash())
        assert not is_indexed(before, article_id, *edited[article_id])
        ticket = updater.request()
    assert updater.wait(ticket, timeout=BUILD_TIMEOUT)
    assert len(builds) == 1 and updater.status() == {"pending": False, "running": False, "builds": 1, "error": None}
    engine.holder.refresh()
    generation = engine.generation()
    for article_id, state in edited.items():
        assert is_indexed(generation, article_id, *state), article_id
    assert engine.search("松柏挂失热线", k=1)[0]["article_id"] == "lost-card-freeze"


def test_a_failed_build_is_reported_and_the_worker_survives(kb_copy):
    db = Database(kb_copy.database_url)
    attempts = []

    def flaky_build(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk full")
        return build_index(*args, **kwargs)

    updater = IndexUpdater(kb_copy, db, settle_seconds=0.0, build=flaky_build)
    assert updater.wait(updater.request(), timeout=BUILD_TIMEOUT)
    assert updater.status()["error"] == "OSError: disk full"
    assert updater.wait(updater.request(), timeout=BUILD_TIMEOUT)
    assert updater.status()["error"] is None and len(attempts) == 2
