"""``python -m indexer build|update``: write a new index generation from the database and switch to it."""
from __future__ import annotations

import argparse
import sys

from kb.config import Settings
from kb.db import Database

from .build import build_index


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexer", description="Build the search index from the database")
    parser.add_argument("command", choices=("build", "update"),
                        help="build: everything from scratch (embeddings still come from the cache); "
                             "update: only what changed since the current generation")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    settings.ensure_dirs()
    db = Database(settings.database_url)
    db.upgrade()
    report = build_index(settings, db, incremental=args.command == "update")
    print(report.summary(), file=sys.stderr)
    return 0
