"""Publish one article → searchable: on a copy of a scale corpus, a serving engine, an editor publish, the
incremental index update, and polling search until the new phrase comes back. Also: full-build rates.

Run: .venv/bin/python bench/publish.py [--size 50k]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import mean  # noqa: E402
from bench.corpus import SIZES, ensure_corpus  # noqa: E402
from indexer.build import build_index  # noqa: E402
from kb.articles import parse_article  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.encoders import create_encoder  # noqa: E402
from kb.engine import KnowledgeBase  # noqa: E402
from kb.store import import_directory, publish  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = """---
id: bench-publish-{n}
title: 星河卡第{n}期专属权益
type: product
tags: [测试]
aliases: [星河卡{n}期]
owner: 基准测试
review_by: 2027-12-31
---
## 星河卡第{n}期的机场贵宾厅
星河卡第{n}期持卡人每季度可免费使用机场贵宾厅{n}次，需提前一天预约。
"""


def copy_corpus(size: str) -> Settings:
    source = ensure_corpus(size)
    target = Path(tempfile.mkdtemp(prefix=f"kb-bench-publish-{size}-"))
    shutil.copy2(source.data_dir / "kb.sqlite", target / "kb.sqlite")
    current = (source.index_dir / "CURRENT").read_text().strip()
    (target / "index").mkdir()
    shutil.copytree(source.index_dir / current, target / "index" / current)
    (target / "index" / "CURRENT").write_text(current + "\n")
    return Settings.from_env(data_dir=str(target), database_url=f"sqlite:///{target / 'kb.sqlite'}",
                             embed_cache_path=str(source.embed_cache_path))


def publish_to_searchable(settings: Settings, engine: KnowledgeBase, n: int) -> float:
    db = Database(settings.database_url)
    started = time.perf_counter()
    with db.session() as s:
        publish(s, parse_article(ARTICLE.format(n=n)), author="bench")
    build_index(settings, db, incremental=True, stream=open("/dev/null", "w"))
    engine.holder.refresh()  # the server checks the pointer every 0.5 s; here we poll right away
    deadline = started + 60
    while time.perf_counter() < deadline:
        answers = engine.search(f"星河卡第{n}期贵宾厅", k=1)
        if answers and answers[0]["article_id"] == f"bench-publish-{n}":
            return time.perf_counter() - started
        time.sleep(0.02)
        engine.holder.refresh()
    return float("nan")


def cold_build_rate() -> tuple[int, int, float]:
    """Full build of content/ with an empty embedding cache: every passage and rule text embedded for real."""
    data_dir = Path(tempfile.mkdtemp(prefix="kb-bench-cold-"))
    try:
        settings = Settings.from_env(data_dir=str(data_dir), database_url=f"sqlite:///{data_dir / 'kb.sqlite'}")
        settings.ensure_dirs()
        db = Database(settings.database_url)
        db.upgrade()
        import_directory(db, ROOT / "content")
        create_encoder(settings.embed_model)  # model load is not build time
        started = time.perf_counter()
        report = build_index(settings, db, incremental=False, stream=open("/dev/null", "w"))
        return report.chunks, report.embedded, time.perf_counter() - started
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def warm_build_rate(size: str) -> tuple[int, float]:
    settings = copy_corpus(size)
    try:
        started = time.perf_counter()
        report = build_index(settings, Database(settings.database_url), incremental=False,
                             stream=open("/dev/null", "w"))
        return report.chunks, time.perf_counter() - started
    finally:
        shutil.rmtree(settings.data_dir, ignore_errors=True)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="50k")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    settings = copy_corpus(args.size)
    try:
        engine = KnowledgeBase(settings)
        engine.suggest("预热")
        times = [publish_to_searchable(settings, engine, n) for n in range(1, args.runs + 1)]
    finally:
        shutil.rmtree(settings.data_dir, ignore_errors=True)
    print(f"publish→searchable [{args.size}]: mean={mean(times):.2f}s max={max(times):.2f}s runs={len(times)}")
    chunks, embedded, seconds = cold_build_rate()
    print(f"full build, cold embedding cache (content/, {chunks} chunks; {embedded} texts embedded including rule "
          f"triggers and examples): {seconds:.1f}s = {chunks / seconds:.1f} chunks/s, {embedded / seconds:.1f} "
          f"texts/s")
    warm_chunks, warm_seconds = warm_build_rate("10k")
    print(f"full build, warm embedding cache (10k corpus, {warm_chunks} chunks): {warm_seconds:.1f}s = "
          f"{warm_chunks / warm_seconds:.0f} chunks/s")
    return {"publish_s": max(times), "cold_chunks_per_s": chunks / seconds,
            "warm_chunks_per_s": warm_chunks / warm_seconds}


if __name__ == "__main__":
    main()
