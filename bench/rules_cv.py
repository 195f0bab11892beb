"""How the rule classifiers' settings were chosen: cross-validation over the content's own training texts only.

Run: .venv/bin/python bench/rules_cv.py [--c 16 --ngram-scale 1.0 ...]

The held-out evaluation (bench/rules.py, bench/rules_eval/) is small and must not be worn out by trying settings on
it, so settings are compared here first, on the train side: the rules' examples, counter-examples and the answer
articles' questions are split into 5 folds; for each fold the classifiers (indexer/rule_training.py, exactly as a
build trains them) learn from the other four. Printed per setting and per kind: the lowest probability threshold
whose false alarms on the held-out questions and counter-examples meet the goal (unneeded disclosures ≤ 5 %,
escalations ≤ 2 %), and the recall of the held-out examples at that threshold. Counter-examples are near-misses by
design, so these recalls are lower than on ordinary speech; compare settings with them, do not report them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import remove, temp_settings  # noqa: E402
from indexer.build import build_index  # noqa: E402
from indexer.rule_training import (  # noqa: E402
    CLASSIFIER_C,
    NGRAM_SCALE,
    stored_training_rows,
    train_rule_classifiers,
)
from kb.db import Database  # noqa: E402
from kb.engine import KnowledgeBase  # noqa: E402
from kb.normalize import normalize  # noqa: E402
from kb.rules import classifier_probabilities  # noqa: E402
from kb.store import import_directory  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"disclosure": 0.05, "escalation": 0.02}
GRID = [x / 100 for x in range(20, 100, 2)]


def content_rows(kb: KnowledgeBase):
    """The rows the built generation's classifiers learned from (indexer/rule_training.py), and which of them
    are negatives that may be held out (counter-examples and the articles' questions; titles, headings and aliases
    are always background)."""
    generation = kb.generation()
    questions = {normalize(q) for info in generation.manifest["articles"].values() for q in info.get("questions", [])}
    vectors, texts, owners, weights = stored_training_rows(generation)
    held_out_negative = (owners < -1) | np.asarray([t in questions for t in texts]) & (owners == -1)
    return texts, vectors, owners, weights, held_out_negative, generation.rules


def cross_validate(kb: KnowledgeBase, c: float, ngram_scale: float, folds: int = 5, seed: int = 0) -> dict:
    texts, vectors, owners, weights, negative, rules = content_rows(kb)
    kinds = np.asarray([r["type"] for r in rules])
    fold = np.random.default_rng(seed).integers(0, folds, len(texts))
    fold[(owners == -1) & ~negative] = -1  # titles, headings and aliases are always training background
    probabilities = np.zeros((len(texts), len(rules)), dtype=np.float32)
    for f in range(folds):
        train = fold != f
        model = train_rule_classifiers(vectors[train], [t for t, k in zip(texts, train) if k], owners[train],
                                       weights[train], len(rules), c=c, ngram_scale=ngram_scale)
        for row in np.where(fold == f)[0]:
            probabilities[row] = classifier_probabilities(model["weights"], model["ngram_weights"], model["bias"],
                                                          vectors[row], texts[row])
        print(f"  fold {f + 1}/{folds} done", file=sys.stderr, flush=True)
    held = fold >= 0
    result = {}
    for kind, goal in GOALS.items():
        columns = np.where(kinds == kind)[0]
        positives = np.where(held & np.isin(owners, columns))[0]
        negatives = np.where(held & negative)[0]
        for threshold in GRID:
            false_alarms = float((probabilities[np.ix_(negatives, columns)] >= threshold).any(axis=1).mean())
            if false_alarms <= goal:
                recall = float(np.mean([probabilities[row, owners[row]] >= threshold for row in positives]))
                result[kind] = (threshold, recall, false_alarms)
                break
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", type=float, nargs="+", default=[CLASSIFIER_C])
    parser.add_argument("--ngram-scale", type=float, nargs="+", default=[NGRAM_SCALE])
    args = parser.parse_args()
    settings = temp_settings("rules-cv")
    try:
        db = Database(settings.database_url)
        import_directory(db, ROOT / "content")
        build_index(settings, db, incremental=False)
        kb = KnowledgeBase(settings)
        for c in args.c:
            for scale in args.ngram_scale:
                started = time.perf_counter()
                result = cross_validate(kb, c, scale)
                print(f"C={c:g} ngram_scale={scale:g}: " + "  ".join(
                    f"{kind} threshold={t:.2f} recall={r:.3f} false={f:.3f}" for kind, (t, r, f) in result.items())
                    + f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        remove(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
