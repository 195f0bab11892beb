"""E.SUN FAQ retrieval: rank all 617 documents for the 50 FAQ questions; hybrid vs keyword-only vs dense-only.

Run: .venv/bin/python bench/esun.py [--data ../shared/bench/esun-faq]
The data is read from shared/ and never copied into the repository.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SHARED, remove, temp_settings  # noqa: E402
from indexer.build import build_index  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.engine import KnowledgeBase  # noqa: E402
from kb.faq import faq_articles  # noqa: E402
from kb.search import FusionParams  # noqa: E402
from kb.store import import_articles  # noqa: E402

DEPTH = 50


def load(data_dir: Path):
    corpus = json.loads((data_dir / "pid_map_content.json").read_text(encoding="utf-8"))
    questions = [q for q in json.loads((data_dir / "questions_example.json").read_text(encoding="utf-8"))["questions"]
                 if q.get("category") == "faq"]
    truths = {g["qid"]: g["retrieve"] for g in
              json.loads((data_dir / "ground_truths_example.json").read_text(encoding="utf-8"))["ground_truths"]}
    return corpus, [(q["query"], f"faq-{truths[q['qid']]}") for q in questions]


def evaluate(kb: KnowledgeBase, cases, mode: str) -> dict:
    r1 = r5 = rr = 0.0
    for query, expected in cases:
        ranked = [a["article_id"] for a in kb.search(query, k=DEPTH, mode=mode, per_article=1)]
        rank = ranked.index(expected) + 1 if expected in ranked else None
        r1 += rank == 1
        r5 += rank is not None and rank <= 5
        rr += 1 / rank if rank else 0.0
    n = len(cases)
    return {"R@1": r1 / n, "R@5": r5 / n, "MRR": rr / n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "bench" / "esun-faq")
    parser.add_argument("--keep", action="store_true", help="keep the temporary KB (prints its path)")
    parser.add_argument("--sweep", action="store_true", help="also print hybrid results for other dense weights")
    args = parser.parse_args()
    corpus, cases = load(args.data)
    settings = temp_settings("esun")
    try:
        db = Database(settings.database_url)
        import_articles(db, faq_articles(corpus), author="bench")
        report = build_index(settings, db, incremental=False)
        print(f"index: {report.summary()}", file=sys.stderr)
        kb = KnowledgeBase(settings)
        if args.sweep:
            for weight in (0.3, 0.4, 0.5, 0.6, 0.7):
                kb.params = FusionParams(dense_weight=weight)
                r = evaluate(kb, cases, "hybrid")
                print(f"sweep dense_weight={weight:.1f} R@1={r['R@1']:.2f} R@5={r['R@5']:.2f} MRR={r['MRR']:.3f}")
            kb.params = FusionParams()
        results = {mode: evaluate(kb, cases, mode) for mode in ("hybrid", "keyword", "dense")}
        for mode, r in results.items():
            print(f"{mode:8s} R@1={r['R@1']:.2f} R@5={r['R@5']:.2f} MRR={r['MRR']:.3f}  ({len(cases)} questions, "
                  f"{len(corpus)} documents)")
        parts = [f"{mode} R@1={r['R@1']:.2f} R@5={r['R@5']:.2f} MRR={r['MRR']:.3f}" for mode, r in results.items()]
        print("esun: " + " | ".join(parts))
    finally:
        if args.keep:
            print(f"kept {settings.data_dir}", file=sys.stderr)
        else:
            remove(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
