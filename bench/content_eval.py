"""Our own content, held out: agent-style queries written for evaluation only (bench/queries/content-eval.yaml),
split by a fixed hash into a tuning half and a test half; hit@3 = the expected article among the top 3 articles.

Run alone: .venv/bin/python bench/content_eval.py (bench/esun.py runs it too and reports the test half).
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import remove, temp_settings  # noqa: E402
from bench.heldout import half, metrics, rankings  # noqa: E402
from indexer.build import build_index  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.engine import KnowledgeBase  # noqa: E402
from kb.store import import_directory  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "bench" / "queries" / "content-eval.yaml"


def cases() -> list[tuple[str, str, str]]:
    return [(q["query"], q["expect"], half(q["query"])) for q in yaml.safe_load(QUERIES.read_text(encoding="utf-8"))]


def content_kb(encoder=None):
    """A temporary KB of content/ (returns the settings, to remove afterwards, and the engine)."""
    settings = temp_settings("content")
    db = Database(settings.database_url)
    report = import_directory(db, ROOT / "content")
    assert not report.errors, [str(e) for e in report.errors]
    build_index(settings, db, incremental=False, stream=io.StringIO())
    return settings, KnowledgeBase(settings, encoder=encoder)


def evaluate(kb: KnowledgeBase, selected: list[tuple[str, str, str]], mode: str = "hybrid") -> dict:
    # five answers, as the sidebar asks for them
    return metrics(rankings(kb, [q for q, _, _ in selected], mode, depth=5), [e for _, e, _ in selected])


def main() -> int:
    settings, kb = content_kb()
    try:
        for name in ("tune", "test"):
            selected = [c for c in cases() if c[2] == name]
            for mode in ("hybrid", "keyword", "dense"):
                r = evaluate(kb, selected, mode)
                print(f"content {name} {mode:8s} hit@3={r['R@3']:.2f} R@1={r['R@1']:.2f} MRR={r['MRR']:.3f} "
                      f"(n={r['n']})")
    finally:
        remove(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
