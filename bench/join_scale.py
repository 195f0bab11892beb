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
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cluster import join, last_build, prepare, rss_mb, throwaway_cluster  # noqa: E402
from bench.corpus import SIZES, build_scale_index, scale_articles  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.store import import_articles  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="50k")
    args = parser.parse_args()
    with throwaway_cluster("kb-bench-join-") as (work, cluster, nodes):
        url = cluster.create_database("kb")
        names = prepare(url, 1)
        db = Database(url)
        started = time.perf_counter()
        report = import_articles(db, scale_articles(SIZES[args.size]), author="bench")
        print(f"join[{args.size}]: imported the corpus into PostgreSQL in {time.perf_counter() - started:.1f}s "
              f"({report.summary()})", flush=True)
        settings = Settings.from_env(data_dir=str(work / "first"), database_url=url)
        settings.ensure_dirs()
        first = build_scale_index(args.size, settings, db, sys.stderr)
        db.engine.dispose()
        print(f"join[{args.size}]: the first node's build (vectors and rule model → the database): {first.summary()}",
              flush=True)
        env = {"KB_SECRET_KEY": "bench-join-" + "k" * 32, "KB_DATABASE_URL": url}
        node, seconds = join("new", work, env, names[0], nodes)
        print(f"join[{args.size}]: new node join (empty data folder → answering) {seconds:.1f}s (goal ≤ 60 s): "
              f"{last_build(node)}; RSS {rss_mb(node):.0f} MB (1 worker)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
