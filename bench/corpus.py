"""Scale corpora of about 1k, 10k and 50k chunks for latency, memory and indexing benchmarks (cached in bench/.cache).

Real part: every article in content/ and every E.SUN FAQ question (read from ../shared, never copied), embedded for
real with the configured model. The rest are variants of E.SUN documents: the same questions and answers with a
branch marker 「【杭州分行】」 in front of each question, as a large centre's per-branch FAQ would be. A variant's
vector is the real vector of its source text plus small deterministic noise (σ=0.01 per dimension, renormalised), so
the dense index has realistic geometry without embedding 50k texts on a 2-core machine.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CACHE_DIR, SHARED  # noqa: E402
from indexer.build import BuildReport, build_index  # noqa: E402
from indexer.embed_cache import EmbeddingCache, text_key  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.encoders import Encoder, create_encoder  # noqa: E402
from kb.faq import faq_articles  # noqa: E402
from kb.generation import FORMAT, MANIFEST, current_generation  # noqa: E402
from kb.store import import_articles, import_directory  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"1k": 1_000, "10k": 10_000, "50k": 50_000}
BRANCHES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "重庆", "天津", "苏州", "长沙",
            "郑州", "青岛", "厦门", "宁波", "合肥", "福州", "昆明", "沈阳", "大连", "济南", "哈尔滨", "长春", "南昌",
            "贵阳", "南宁", "太原", "石家庄", "兰州", "海口", "乌鲁木齐", "呼和浩特", "银川", "西宁", "拉萨", "无锡",
            "佛山", "东莞"]
MARKER = re.compile(r"【[^】]*分行】")


class VariantEncoder(Encoder):
    """Real embeddings for real text; for branch variants, the source text's real vector plus seeded noise."""

    def __init__(self, real: Encoder, cache: EmbeddingCache, noise: float = 0.01):
        self.real, self.cache, self.noise = real, cache, noise
        self.model_id, self.dim = real.model_id, real.dim

    def encode_queries(self, texts):
        return self.real.encode_queries(texts)

    def encode_passages(self, texts):
        sources = [MARKER.sub("", t) for t in texts]
        keys = [text_key(f"passage:{s}") for s in sources]
        found = self.cache.get_many(self.model_id, keys)
        missing = list(dict.fromkeys(s for s, k in zip(sources, keys) if k not in found))
        if missing:
            vectors = self.real.encode_passages(missing)
            new = {text_key(f"passage:{s}"): v for s, v in zip(missing, vectors)}
            self.cache.put_many(self.model_id, new)
            found.update(new)
        out = []
        for text, key in zip(texts, keys):
            vector = found[key].copy()
            if text != MARKER.sub("", text):
                rng = np.random.default_rng(int(text_key(text)[:12], 16))
                vector = vector + rng.normal(0, self.noise, self.dim).astype(np.float32)
            out.append(vector / np.linalg.norm(vector))
        return np.vstack(out).astype(np.float32)


def esun_corpus() -> dict:
    return json.loads((SHARED / "bench" / "esun-faq" / "pid_map_content.json").read_text(encoding="utf-8"))


def corpus_settings(name: str) -> Settings:
    data_dir = CACHE_DIR / f"scale-{name}"
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings.from_env(data_dir=str(data_dir), database_url=f"sqlite:///{data_dir / 'kb.sqlite'}",
                             embed_cache_path=str(data_dir / "embed-cache.sqlite"))


def _variant_faq(esun: dict, target_chunks: int, have: int) -> dict:
    variants, count = {}, have
    for round_ in range(len(BRANCHES)):
        for pid, pairs in esun.items():
            if count >= target_chunks:
                return variants
            branch = BRANCHES[round_]
            variants[f"b{round_}-{pid}"] = [{"question": f"【{branch}分行】{p['question']}", "answers": p["answers"]}
                                           for p in pairs]
            count += len(pairs)
    return variants


def ensure_corpus(name: str, stream=sys.stderr) -> Settings:
    """Build the corpus and its index once; later calls reuse bench/.cache/scale-<name>."""
    settings = corpus_settings(name)
    generation = current_generation(settings.index_dir)
    if generation is not None:
        if json.loads((generation / MANIFEST).read_text())["format"] == FORMAT:
            return settings
        print(f"corpus {name}: index format changed, rebuilding", file=stream)
        build_scale_index(name, settings, Database(settings.database_url), stream)
        return settings
    target = SIZES[name]
    settings.ensure_dirs()
    db = Database(settings.database_url)
    db.upgrade()
    import_directory(db, ROOT / "content", author="bench")
    import_articles(db, scale_articles(target), author="bench")
    build_scale_index(name, settings, db, stream)
    return settings


def scale_articles(target: int) -> list:
    """The FAQ articles that take content/ (about 200 answer chunks) to ``target`` chunks: real E.SUN documents,
    then branch variants."""
    esun = esun_corpus()
    chunks = 200
    real = {}
    for pid, pairs in esun.items():
        if chunks >= target:
            break
        real[pid] = pairs
        chunks += len(pairs)
    return faq_articles(real, prefix="esun") + faq_articles(_variant_faq(esun, target, chunks), prefix="var")


def build_scale_index(name: str, settings: Settings, db: Database, stream) -> BuildReport:
    """A full build of the scale corpus in ``db``: real texts embedded (cached in bench/.cache), branch variants from
    their sources' vectors."""
    real_encoder = create_encoder(settings.embed_model)
    shared_cache = EmbeddingCache(CACHE_DIR / "embed-cache.sqlite")
    try:
        encoder = VariantEncoder(real_encoder, shared_cache)
        print(f"corpus {name}: building the index", file=stream)
        report = build_index(settings, db, encoder, incremental=False, stream=stream)
    finally:
        shared_cache.close()
    print(f"corpus {name}: {report.summary()}", file=stream)
    return report


if __name__ == "__main__":
    for size in sys.argv[1:] or list(SIZES):
        ensure_corpus(size)
