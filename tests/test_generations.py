"""Index generations: incremental updates, and a killed build leaves the previous generation serving."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from indexer.build import build_index
from kb.articles import parse_article
from kb.db import Database
from kb.engine import KnowledgeBase
from kb.generation import CHUNK_SHARDS, FORMAT, MANIFEST, article_vectors_path, current_generation, shard_path
from kb.index import IndexOutdated
from kb.store import publish
from tests.helpers import ROOT, Client, wait_until

NEW_ARTICLE = """---
id: test-generation-article
title: 彩虹卡专属权益说明
type: product
tags: [测试]
aliases: [彩虹卡]
owner: 测试组
review_by: 2027-12-31
---
""" + "\n".join(f"## 彩虹卡第{i}项权益\n彩虹卡持卡人在第{i}个季度可以享受{i * 3}次免费的机场贵宾厅服务，预约需提前{i}天。"
                for i in range(1, 9))


def _publish_new_article(settings, body=NEW_ARTICLE):
    db = Database(settings.database_url)
    with db.session() as s:
        publish(s, parse_article(body), author="test")
    return db


def test_update_indexes_only_the_change_and_is_searchable(kb_copy):
    before = current_generation(kb_copy.index_dir)
    db = _publish_new_article(kb_copy)
    report = build_index(kb_copy, db, incremental=True)
    assert report.kind == "update" and report.added_chunks == 8 and report.removed_chunks == 0
    after = current_generation(kb_copy.index_dir)
    assert after != before
    # Shards without the new article are the same files as before (hard links), not rewritten copies.
    same = [n for n in range(CHUNK_SHARDS) if shard_path(after, n).stat().st_ino == shard_path(before, n).stat().st_ino]
    assert len(same) == CHUNK_SHARDS - 1
    answers = KnowledgeBase(kb_copy).search("彩虹卡贵宾厅", k=3)
    assert answers[0]["article_id"] == "test-generation-article"


def test_killed_build_leaves_previous_generation_serving(kb_copy, tmp_path):
    before = current_generation(kb_copy.index_dir)
    _publish_new_article(kb_copy)
    env = dict(os.environ, KB_DATA_DIR=str(kb_copy.data_dir), KB_DATABASE_URL=kb_copy.database_url,
               KB_EMBED_CACHE=str(tmp_path / "cold-cache.sqlite"))  # cold cache: the build has real work to do
    proc = subprocess.Popen([sys.executable, "-m", "indexer", "build"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    existing = set(kb_copy.index_dir.glob("gen-*"))
    partial = wait_until(lambda: set(kb_copy.index_dir.glob("gen-*")) - existing, 120, "the build to start a generation")
    # let it get into writing the generation: wait until its keyword index is on disk (a cold cache still has the
    # embedding ahead of it, so the manifest is far off)
    wait_until(lambda: any((gen / "keyword").exists() for gen in partial) or proc.poll() is not None, 120,
               "the build to start writing its generation")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial, "the build never started a generation"
    assert proc.returncode == -signal.SIGKILL
    assert not (next(iter(partial)) / "manifest.json").exists(), "build finished before it was killed"
    assert current_generation(kb_copy.index_dir) == before
    answers = KnowledgeBase(kb_copy).search("卡丢了怎么办", k=3)
    assert answers and answers[0]["article_id"] == "lost-card-freeze"
    # The next build succeeds and serves the new article.
    report = build_index(kb_copy, Database(kb_copy.database_url), incremental=True)
    assert current_generation(kb_copy.index_dir) == report.generation
    assert KnowledgeBase(kb_copy).search("彩虹卡贵宾厅", k=1)[0]["article_id"] == "test-generation-article"


def test_index_from_another_format_is_refused_clearly_and_a_build_replaces_it(kb_copy, app_factory):
    """After an upgrade that changes the generation layout, the old index gives a 503 saying to rebuild (not a
    missing-file traceback), and the next build is a full one that serves again."""
    live = current_generation(kb_copy.index_dir)
    manifest = json.loads((live / MANIFEST).read_text(encoding="utf-8"))
    (live / MANIFEST).write_text(json.dumps({**manifest, "format": FORMAT - 1}), encoding="utf-8")
    with pytest.raises(IndexOutdated, match=f"format {FORMAT - 1}.*python -m indexer build"):
        KnowledgeBase(kb_copy).suggest("卡丢了")
    client = Client(app_factory(kb_copy), "agent1")
    response = client.post_json("/api/suggest", {"text": "卡丢了"})
    assert response.status_code == 503 and "python -m indexer build" in response.get_json()["error"]
    report = build_index(kb_copy, Database(kb_copy.database_url), incremental=True)
    assert report.kind == "full"
    answers = KnowledgeBase(kb_copy).suggest("卡丢了怎么办")["answers"]
    assert answers[0]["article_id"] == "lost-card-freeze"


def _article_vectors(generation):
    """Every article's (whole-text vector, label vectors) in a generation, read from its shards."""
    vectors = {}
    for shard in range(CHUNK_SHARDS):
        with np.load(article_vectors_path(generation, shard)) as data:
            offsets = data["label_offsets"]
            vectors.update((a, (data["documents"][i], data["labels"][offsets[i]:offsets[i + 1]]))
                           for i, a in enumerate(data["ids"].tolist()))
    return vectors


def test_update_embeds_only_the_new_articles_vectors_and_keeps_the_others_rows(kb_copy):
    """The ranker's article vectors follow the chunks: an update rewrites only the new article's shard (the others
    are the same files), keeps unchanged articles' rows bit for bit, and adds one label per distinct name."""
    before = current_generation(kb_copy.index_dir)
    old = _article_vectors(before)
    report = build_index(kb_copy, _publish_new_article(kb_copy), incremental=True)
    assert report.kind == "update"
    same = [n for n in range(CHUNK_SHARDS) if article_vectors_path(report.generation, n).stat().st_ino ==
            article_vectors_path(before, n).stat().st_ino]
    assert len(same) == CHUNK_SHARDS - 1
    new = _article_vectors(report.generation)
    assert set(new) == set(old) | {"test-generation-article"}
    for article_id, (document, labels) in new.items():
        if article_id in old:
            assert np.array_equal(document, old[article_id][0]) and np.array_equal(labels, old[article_id][1])
        else:
            assert len(labels) == 10  # title, one alias, eight headings
            assert np.isclose(np.linalg.norm(document.astype(np.float32)), 1.0, atol=1e-3)
    answers = KnowledgeBase(kb_copy).search("彩虹卡有哪些机场贵宾厅权益", k=3)
    assert answers[0]["article_id"] == "test-generation-article"
