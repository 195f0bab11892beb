"""Learn the article ranker's weights (kb/data/ranker.json) on the tuning halves only.

Training queries (bench/heldout.py): the E.SUN leave-one-out questions of the tuning documents (each over the
corpus its own pair was removed from) and the tuning half of our content's evaluation queries. For every query the
engine's first tier gives candidate articles and their features (kb/rerank.py); the model is a pairwise logistic
regression (the right article against each other candidate), the standard linear learning-to-rank. Its one
setting, the regularisation C, is chosen by 4-fold cross-validation over the tuning queries; the test halves are
never read. Training is deterministic (liblinear, one thread): the same index gives the same weights.

Run: .venv/bin/python bench/train_ranker.py [--write]   (prints the cross-validated MRR; --write saves the weights)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import content_eval  # noqa: E402
from bench.common import SHARED, remove  # noqa: E402
from bench.esun import heldout_kbs, load, warm_queries  # noqa: E402
from bench.heldout import leave_one_out  # noqa: E402
from kb.engine import KnowledgeBase  # noqa: E402
from kb.rerank import FEATURES, RANKER_FILE, article_features  # noqa: E402
from kb.search import Timings  # noqa: E402

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
FOLDS = 4


def query_features(kb: KnowledgeBase, query: str, expected: str) -> tuple[np.ndarray, int | None]:
    """The candidates' feature rows and the expected article's row index (None: not among the candidates)."""
    normalized, terms = kb._prepare(query, Timings())
    generation = kb.generation()
    depth = kb.params.candidates
    vector = kb.query_cache.get(normalized)
    articles, features = article_features(generation, generation.keyword(terms, depth),
                                          generation.vector(vector, depth), vector)
    return features, articles.index(expected) if expected in articles else None


def pairs(queries: list[tuple[np.ndarray, int | None]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-minus-other feature differences (label 1) and their negations (label 0)."""
    rows = [features[right] - features[j] for features, right in queries if right is not None
            for j in range(len(features)) if j != right]
    x = np.asarray(rows)
    return np.vstack([x, -x]), np.concatenate([np.ones(len(x)), np.zeros(len(x))])


def fit(queries, c: float) -> np.ndarray:
    x, y = pairs(queries)
    model = LogisticRegression(C=c, fit_intercept=False, solver="liblinear", max_iter=5000).fit(x, y)
    return model.coef_[0]


def reciprocal_rank(features: np.ndarray, right: int | None, weights: np.ndarray) -> float:
    if right is None:
        return 0.0
    scores = features @ weights
    return 1.0 / (1 + int((scores > scores[right]).sum()))


def cross_validated_ranks(queries, c: float) -> np.ndarray:
    """Each query's reciprocal rank under weights fitted without its fold."""
    folds = np.arange(len(queries)) % FOLDS
    ranks = np.zeros(len(queries))
    for fold in range(FOLDS):
        weights = fit([q for q, f in zip(queries, folds) if f != fold], c)
        for i in np.flatnonzero(folds == fold):
            ranks[i] = reciprocal_rank(*queries[i], weights)
    return ranks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "bench" / "esun-faq")
    parser.add_argument("--write", action="store_true", help=f"save the weights to {RANKER_FILE}")
    args = parser.parse_args()
    corpus, _ = load(args.data)
    reduced, loo = leave_one_out(corpus)
    esun_tune = [(q, e) for q, e, h in loo if h == "tune"]
    content_tune = [(q, e) for q, e, h in content_eval.cases() if h == "tune"]
    temps = []
    try:
        kb, content = heldout_kbs(reduced, temps, "esun-ranker")
        warm_queries(kb, [q for q, _ in esun_tune])
        warm_queries(content, [q for q, _ in content_tune])
        queries = [query_features(kb, q, e) for q, e in esun_tune] + \
            [query_features(content, q, e) for q, e in content_tune]
    finally:
        for s in temps:
            remove(s)
    found = sum(right is not None for _, right in queries)
    print(f"training queries: {len(esun_tune)} E.SUN tuning + {len(content_tune)} content tuning; "
          f"the right article is a candidate for {found}")
    scores = {}
    for c in C_GRID:
        ranks = cross_validated_ranks(queries, c)
        scores[c] = float(ranks.mean())
        print(f"C={c:<5} cross-validated MRR (tuning): all {scores[c]:.3f}, E.SUN {ranks[:len(esun_tune)].mean():.3f}, "
              f"content {ranks[len(esun_tune):].mean():.3f}")
    best = max(C_GRID, key=lambda c: (round(scores[c], 4), -c))
    weights = fit(queries, best)
    print(f"chosen C={best}; weights: " + ", ".join(f"{n}={w:+.3f}" for n, w in zip(FEATURES, weights)))
    if args.write:
        RANKER_FILE.write_text(json.dumps({
            "features": list(FEATURES), "weights": [round(float(w), 6) for w in weights],
            "trained_by": "bench/train_ranker.py", "C": best, "cross_validated_mrr": round(scores[best], 4),
            "queries": {"esun_tuning": len(esun_tune), "content_tuning": len(content_tune)},
        }, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {RANKER_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
