"""`make bench`: every benchmark in one run, a summary table, and the summary line (figures only, no pass/fail)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import http_load, latency, publish  # noqa: E402
from bench.corpus import SIZES, ensure_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    started = time.monotonic()
    for size in SIZES:
        ensure_corpus(size)
    print("== E.SUN retrieval quality (hybrid vs keyword vs dense, same run)", flush=True)
    subprocess.run([sys.executable, str(ROOT / "bench" / "esun.py")], check=True)
    print("== in-process suggest latency", flush=True)
    texts = latency.utterances()
    results: dict = {}
    for size in SIZES:
        latency.run_size(size, texts, results)
    print("== HTTP under 50 simulated agents", flush=True)
    http = http_load.main(["--agents", "50", "--seconds", "60", "--size", "50k"])
    print("== indexing and publish", flush=True)
    indexing = publish.main(["--size", "50k"])

    print("\n| corpus | chunks | suggest p95 typing (ms) | p95 cold query cache (ms) | p95 warm (ms) | RSS (MB) |")
    print("|---|---|---|---|---|---|")
    for size, r in results.items():
        print(f"| {size} | {r['chunks']} | {r['p95_typing']:.1f} | {r['p95_cold']:.1f} | {r['p95_warm']:.1f} | "
              f"{r['rss_mb']:.0f} |")
    print(f"\nHTTP 50 agents: {http['rps']:.1f} req/s, p95 {http['p95']:.1f} ms, errors {http['errors']}; "
          f"publish→searchable {indexing['publish_s']:.2f} s; full build {indexing['cold_chunks_per_s']:.1f} "
          f"chunks/s cold, {indexing['warm_chunks_per_s']:.0f} chunks/s warm; total {time.monotonic() - started:.0f}s")
    r50 = results["50k"]
    print(f"bench: p95_50k_ms={r50['p95_typing']:.1f} http_p95_ms={http['p95']:.1f} http_rps={http['rps']:.1f} "
          f"errors={http['errors']} publish_s={indexing['publish_s']:.2f} rss_50k_mb={r50['rss_mb']:.0f} "
          f"build_chunks_per_s={indexing['cold_chunks_per_s']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
