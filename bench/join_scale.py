"""A node joining a large knowledge base over PostgreSQL: empty data folder → answering, at 10k or 50k chunks.

Run: .venv/bin/python bench/join_scale.py [--size 50k]

A throw-away PostgreSQL cluster (tests/pgcluster.py) gets content/ and the scale corpus's articles (bench/corpus.py:
real E.SUN documents and their branch variants). A first build in this process plays the node that was there
before: it embeds the corpus (branch variants from bench/.cache, as the latency bench does) and leaves the vectors
and the trained rule model in the database. Then a gunicorn node starts with an empty data folder, as a new machine
would, and is timed until it answers a query. Prints figures only.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cluster import join, last_build, prepare, rss_mb  # noqa: E402
from bench.common import CACHE_DIR  # noqa: E402
from bench.corpus import SIZES, VariantEncoder, scale_articles  # noqa: E402
from indexer.build import build_index  # noqa: E402
from indexer.embed_cache import EmbeddingCache  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.encoders import create_encoder  # noqa: E402
from kb.store import import_articles  # noqa: E402
from tests.nodes import Node  # noqa: E402
from tests.pgcluster import PostgresCluster  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="50k")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    CACHE_DIR.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kb-bench-join-"))
    cluster = PostgresCluster().start()
    nodes: list[Node] = []
    try:
        url = cluster.create_database("kb")
        names = prepare(url, 1)
        db = Database(url)
        started = time.perf_counter()
        report = import_articles(db, scale_articles(SIZES[args.size]), author="bench")
        print(f"join[{args.size}]: imported the corpus into PostgreSQL in {time.perf_counter() - started:.1f}s "
              f"({report.summary()})", flush=True)
        settings = Settings.from_env(data_dir=str(work / "first"), database_url=url)
        settings.ensure_dirs()
        variants = EmbeddingCache(CACHE_DIR / "embed-cache.sqlite")
        try:
            encoder = VariantEncoder(create_encoder(settings.embed_model), variants)
            first = build_index(settings, db, encoder, incremental=False)
        finally:
            variants.close()
        db.engine.dispose()
        print(f"join[{args.size}]: the first node's build (vectors and rule model → the database): {first.summary()}",
              flush=True)
        env = {"KB_SECRET_KEY": "bench-join-" + "k" * 32, "KB_DATABASE_URL": url}
        node, seconds = join("new", work, env, names[0], nodes)
        print(f"join[{args.size}]: new node join (empty data folder → answering) {seconds:.1f}s (goal ≤ 60 s): "
              f"{last_build(node)}; RSS {rss_mb(node):.0f} MB (1 worker)")
    finally:
        for node in nodes:
            node.stop(signal.SIGKILL)
        cluster.remove()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
