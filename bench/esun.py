"""Retrieval quality on questions nobody tuned on, with the plain baselines computed in the same run.

Protocol (bench/heldout.py):
1. E.SUN leave-one-out. Every E.SUN document with two or more Q/A pairs loses one pair (chosen by a fixed hash of its
   id) from the indexed corpus; that pair's question is the query, its document the answer (518 queries over 617
   documents). Documents are split by a fixed hash of their id: 264 tuning queries, 254 test queries. Reported figures
   are the test half's; the tuning half is what `--sweep` (and any weight in kb/) may be chosen on. The baselines
   (bm25s over whole documents, e5 over whole documents, their RRF with k=60, untuned) run on the same reduced corpus
   and the same test queries.
2. Our own content: bench/queries/content-eval.yaml (written for evaluation only), split by hash of the query into a
   tuning and a test half; hit@3 of the test half.
3. The 50 E.SUN FAQ questions over the full corpus (617 documents), as before; nothing is chosen on them any more.

Whatever the engine learns or sweeps comes from the tuning halves only: the article ranker's weights
(bench/train_ranker.py) and the fusion's weight (``--sweep``). Query embeddings are kept in the persistent
embedding cache (bench/.cache), so a repeated run embeds nothing.

Run: .venv/bin/python bench/esun.py [--sweep] [--quick]   (E.SUN data is read from shared/, never copied)
  --sweep  also prints hybrid on the tuning halves for other dense weights
  --quick  tuning halves only (hybrid and the baselines), for iterating; reports nothing
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import content_eval  # noqa: E402
from bench.baselines import PlainBaselines  # noqa: E402
from bench.common import CACHE_DIR, SHARED, remove, temp_settings  # noqa: E402
from bench.heldout import fmt, leave_one_out, metrics, rankings  # noqa: E402
from indexer.build import Embedder, build_index  # noqa: E402
from indexer.embed_cache import EmbeddingCache  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.engine import KnowledgeBase  # noqa: E402
from kb.faq import faq_articles  # noqa: E402
from kb.normalize import normalize  # noqa: E402
from kb.search import FusionParams  # noqa: E402
from kb.store import import_articles  # noqa: E402

MODES = ("hybrid", "keyword", "dense")
SWEEP_WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7)  # --sweep: dense weights tried on the tuning halves
SWEEP_CANDIDATES = (60, 100, 150, 200)  # ... and candidate depths (the depth the dense cosines are scaled against)


def warm_queries(kb: KnowledgeBase, queries: list[str]) -> None:
    """Query embeddings from the persistent cache (embedding the missing ones once), so reruns embed nothing."""
    texts = list(dict.fromkeys(normalize(q) for q in queries))
    cache = EmbeddingCache(CACHE_DIR / "embed-cache.sqlite")
    try:
        vectors = Embedder(kb.encoder, cache).embed(texts, "query", "evaluation queries")
    finally:
        cache.close()
    kb.query_cache.prime(texts, vectors)


def load(data_dir: Path):
    corpus = json.loads((data_dir / "pid_map_content.json").read_text(encoding="utf-8"))
    questions = [q for q in json.loads((data_dir / "questions_example.json").read_text(encoding="utf-8"))["questions"]
                 if q.get("category") == "faq"]
    truths = {g["qid"]: g["retrieve"] for g in
              json.loads((data_dir / "ground_truths_example.json").read_text(encoding="utf-8"))["ground_truths"]}
    return corpus, [(q["query"], f"faq-{truths[q['qid']]}") for q in questions]


def faq_kb(name: str, corpus: dict, encoder=None):
    settings = temp_settings(name)
    db = Database(settings.database_url)
    import_articles(db, faq_articles(corpus), author="bench")
    report = build_index(settings, db, incremental=False)
    print(f"index {name}: {report.summary()}", file=sys.stderr)
    return settings, KnowledgeBase(settings, encoder=encoder)


def heldout_kbs(reduced: dict, temps: list, name: str = "esun-loo") -> tuple[KnowledgeBase, KnowledgeBase]:
    """The leave-one-out KB and a KB of content/ sharing its encoder; their settings go into ``temps`` (remove them
    afterwards)."""
    settings, kb = faq_kb(name, reduced)
    temps.append(settings)
    content_settings, content = content_eval.content_kb(encoder=kb.encoder)
    temps.append(content_settings)
    return kb, content


def document_texts(corpus: dict) -> dict[str, str]:
    """One document = all its questions and answers joined (what the plain baselines index)."""
    return {f"faq-{pid}": "\n".join(f"{p['question']}\n" + "\n".join(map(str, p.get("answers") or []))
                                    for p in pairs) for pid, pairs in corpus.items()}


def sweep(kb: KnowledgeBase, tune: list[tuple[str, str, str]], content_kb: KnowledgeBase, content_tune) -> None:
    """Hybrid on the tuning halves only, for other dense weights and candidate depths (the reported queries are
    never used here)."""
    queries, expected = [q for q, _, _ in tune], [e for _, e, _ in tune]
    for candidates in SWEEP_CANDIDATES:
        for weight in SWEEP_WEIGHTS:
            kb.params = content_kb.params = FusionParams(dense_weight=weight, candidates=candidates)
            r = metrics(rankings(kb, queries, "hybrid"), expected)
            c = content_eval.evaluate(content_kb, content_tune)
            print(f"sweep (tuning halves) candidates={candidates} dense_weight={weight:.1f} esun_loo {fmt(r)} "
                  f"content hit@3={c['R@3']:.2f} MRR={c['MRR']:.3f}")
    kb.params = content_kb.params = FusionParams()


def quick(kb: KnowledgeBase, reduced: dict, tune: list[tuple[str, str, str]], content_kb: KnowledgeBase,
          content_tune) -> None:
    """Tuning halves only: hybrid against the baselines, for iterating on the engine without seeing the test half."""
    queries, expected = [q for q, _, _ in tune], [e for _, e, _ in tune]
    baselines = PlainBaselines(document_texts(reduced), kb.query_cache, CACHE_DIR / "embed-cache.sqlite")
    ranked = [baselines.rank_all(q) for q in queries]
    print(f"quick (tuning) hybrid        {fmt(metrics(rankings(kb, queries, 'hybrid'), expected))}")
    print(f"quick (tuning) baseline rrf  {fmt(metrics([r['rrf'] for r in ranked], expected))}")
    c = content_eval.evaluate(content_kb, content_tune)
    print(f"quick (tuning) content hit@3={c['R@3']:.2f} MRR={c['MRR']:.3f} (n={c['n']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "bench" / "esun-faq")
    parser.add_argument("--sweep", action="store_true", help="hybrid on the tuning halves for other fusion weights and depths, nothing reported")
    parser.add_argument("--quick", action="store_true", help="tuning halves only, nothing reported")
    args = parser.parse_args()
    corpus, cases50 = load(args.data)
    reduced, loo = leave_one_out(corpus)
    tune = [c for c in loo if c[2] == "tune"]
    test = [c for c in loo if c[2] == "test"]
    temps = []
    try:
        kb, content = heldout_kbs(reduced, temps)
        content_cases = content_eval.cases()
        content_tune = [c for c in content_cases if c[2] == "tune"]
        content_test = [c for c in content_cases if c[2] == "test"]
        warm_queries(kb, [q for q, _, _ in loo] + [q for q, _ in cases50])
        warm_queries(content, [q for q, _, _ in content_cases])
        if args.quick:
            quick(kb, reduced, tune, content, content_tune)
            return 0
        if args.sweep:
            sweep(kb, tune, content, content_tune)
            return 0

        print(f"E.SUN leave-one-out: {len(loo)} queries ({len(tune)} tuning, {len(test)} test, reported), "
              f"{len(reduced)} documents")
        queries, expected = [q for q, _, _ in test], [e for _, e, _ in test]
        loo_results = {mode: metrics(rankings(kb, queries, mode), expected) for mode in MODES}
        baselines = PlainBaselines(document_texts(reduced), kb.query_cache, CACHE_DIR / "embed-cache.sqlite")
        ranked = [baselines.rank_all(q) for q in queries]
        for name in ("bm25s-doc", "e5-doc", "rrf"):
            loo_results[f"baseline {name}"] = metrics([r[name] for r in ranked], expected)
        for name, r in loo_results.items():
            print(f"esun-loo test {name:18s} {fmt(r)}")

        content_results = {mode: content_eval.evaluate(content, content_test, mode) for mode in MODES}
        for mode, r in content_results.items():
            print(f"content test {mode:8s} hit@3={r['R@3']:.2f} R@1={r['R@1']:.2f} MRR={r['MRR']:.3f} (n={r['n']})")

        settings50, kb50 = faq_kb("esun-50", corpus, encoder=kb.encoder)
        temps.append(settings50)
        warm_queries(kb50, [q for q, _ in cases50])
        queries50, expected50 = [q for q, _ in cases50], [e for _, e in cases50]
        results50 = {mode: metrics(rankings(kb50, queries50, mode), expected50) for mode in MODES}
        for mode, r in results50.items():
            print(f"esun-50 {mode:8s} {fmt(r)}  ({len(corpus)} documents)")

        hybrid, base = loo_results["hybrid"], loo_results["baseline rrf"]
        print(f"retrieval: esun_loo_mrr={hybrid['MRR']:.3f} esun_loo_r5={hybrid['R@5']:.3f} "
              f"rrf_baseline_mrr={base['MRR']:.3f} content_test_hit3={content_results['hybrid']['R@3']:.2f} "
              f"esun50_mrr={results50['hybrid']['MRR']:.3f}")
    finally:
        for settings in temps:
            remove(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
