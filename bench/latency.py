"""In-process suggest latency at 1k/10k/50k chunks, by stage, with cold and warm query-embedding caches and
realistic typing sequences (the prefixes an agent's sidebar sends while typing one utterance). Baselines in the same
run: keyword-only, dense-only and bm25s BM25 over the same chunks.

Run: .venv/bin/python bench/latency.py [--sizes 1k 10k 50k]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SHARED, mean, percentile  # noqa: E402
from bench.corpus import SIZES, ensure_corpus  # noqa: E402
from kb.engine import KnowledgeBase  # noqa: E402
from kb.normalize import normalize, tokenize  # noqa: E402
from kb.search import Timings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("normalise", "embed", "keyword", "vector", "fusion", "rerank", "snippets", "rules")


def utterances() -> list[str]:
    texts = [q["query"] for path in sorted((ROOT / "tests" / "queries").glob("*.yaml"))
             for q in yaml.safe_load(path.read_text(encoding="utf-8"))]
    questions = json.loads((SHARED / "bench" / "esun-faq" / "questions_example.json").read_text(encoding="utf-8"))
    texts += [q["query"] for q in questions["questions"] if q.get("category") == "faq"]
    return texts


def typing_sequence(text: str, step: int = 2) -> list[str]:
    """What the sidebar sends while an agent types ``text``: a request every ``step`` characters, then the whole."""
    prefixes = [text[:n] for n in range(step, len(text), step)]
    return prefixes + [text]


def timed(fn, texts) -> tuple[list[float], dict[str, list[float]]]:
    latencies, stages = [], {s: [] for s in STAGES}
    for text in texts:
        timings = Timings()
        started = time.perf_counter()
        fn(text, timings)
        latencies.append((time.perf_counter() - started) * 1000)
        for stage in STAGES:
            stages[stage].append(timings.stages.get(stage, 0.0) * 1000)
    return latencies, stages


def line(label: str, latencies: list[float]) -> str:
    return (f"{label}: p50={percentile(latencies, 50):.1f}ms p95={percentile(latencies, 95):.1f}ms "
            f"p99={percentile(latencies, 99):.1f}ms n={len(latencies)}")


def bm25s_baseline(kb: KnowledgeBase, texts: list[str]) -> list[float]:
    import bm25s
    generation = kb.generation()
    corpus = [tokenize(normalize(f"{r['title']} {r['heading']} {r['plain']}")) for r in generation.chunks.values()]
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    latencies = []
    for text in texts:
        started = time.perf_counter()
        tokens = tokenize(normalize(text)) or ["的"]
        retriever.retrieve([tokens], k=min(10, len(corpus)), show_progress=False, n_threads=1)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def ivf_recall(kb: KnowledgeBase, texts: list[str], k: int = 10) -> float | None:
    """Share of the exact top-k (brute force over the same vectors) that the IVF index returns; None if exact."""
    import faiss
    import numpy as np
    generation = kb.generation()
    if not isinstance(generation.dense, faiss.IndexIVF):
        return None
    ivf = generation.dense
    ivf.make_direct_map(False)
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
    cids = np.asarray(sorted(generation.chunks), dtype=np.int64)
    exact = faiss.IndexIDMap2(faiss.IndexFlatIP(ivf.d))
    exact.add_with_ids(np.vstack([ivf.reconstruct(int(c)) for c in cids]), cids)
    found = total = 0
    for text in texts:
        vector = kb.query_cache.get(normalize(text)).reshape(1, -1)
        truth = set(exact.search(vector, k)[1][0])
        found += len(truth & set(ivf.search(vector, k)[1][0]))
        total += len(truth)
    return found / total


def serving_rss_mb(size: str) -> float:
    """RSS of a fresh process that loads this corpus' index and the model and answers one suggest."""
    settings = ensure_corpus(size)
    code = ("import sys; sys.path.insert(0, '.');"
            "from kb.config import Settings; from kb.engine import KnowledgeBase;"
            f"kb = KnowledgeBase(Settings.from_env(data_dir={str(settings.data_dir)!r})); kb.suggest('卡丢了怎么办');"
            "print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env=dict(os.environ))
    return int(out.stdout.strip()) / 1024


def run_size(size: str, texts: list[str], results: dict) -> None:
    settings = ensure_corpus(size)
    kb = KnowledgeBase(settings)
    chunks = len(kb.generation().chunks)
    kb.suggest("预热")  # load the model and the index: latencies below are with a warm model
    typing = [p for t in texts for p in typing_sequence(t)]

    kb.query_cache.clear()
    cold, cold_stages = timed(lambda t, tm: kb.suggest(t, timings=tm), texts)
    warm, warm_stages = timed(lambda t, tm: kb.suggest(t, timings=tm), texts)
    kb.query_cache.clear()
    typed, typed_stages = timed(lambda t, tm: kb.suggest(t, timings=tm), typing)
    keyword, _ = timed(lambda t, tm: kb.search(t, mode="keyword", timings=tm), texts)
    dense, _ = timed(lambda t, tm: kb.search(t, mode="dense", timings=tm), texts)
    bm25 = bm25s_baseline(kb, texts)
    print(f"[{size}] {chunks} chunks")
    print(line(f"[{size}] suggest cold query cache", cold))
    print(line(f"[{size}] suggest warm query cache", warm))
    print(line(f"[{size}] suggest typing sequence", typed))
    print(f"[{size}] stage means typing (ms): " +
          " ".join(f"{s}={mean(typed_stages[s]):.2f}" for s in STAGES))
    print(f"[{size}] stage means cold (ms): " + " ".join(f"{s}={mean(cold_stages[s]):.2f}" for s in STAGES))
    print(line(f"[{size}] baseline keyword-only search (warm)", keyword))
    print(line(f"[{size}] baseline dense-only search (warm)", dense))
    print(line(f"[{size}] baseline bm25s BM25 (retrieve only)", bm25))
    recall = ivf_recall(kb, texts)
    if recall is not None:
        print(f"[{size}] IVF dense recall@10 vs exact search: {recall:.3f}")
    rss = serving_rss_mb(size)
    print(f"[{size}] serving process RSS: {rss:.0f} MB")
    results[size] = {"chunks": chunks, "p95_typing": percentile(typed, 95), "p95_cold": percentile(cold, 95),
                     "p95_warm": percentile(warm, 95), "rss_mb": rss}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--json", type=Path, help="also write the summary figures to this file")
    args = parser.parse_args()
    texts = utterances()
    results: dict = {}
    for size in args.sizes:
        run_size(size, texts, results)
    summary = " ".join(f"p95_{s}_ms={r['p95_typing']:.1f} rss_{s}_mb={r['rss_mb']:.0f}" for s, r in results.items())
    print(f"latency: {summary}")
    if args.json:
        args.json.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
