"""Soak: simulated agents work whole calls against gunicorn on loopback for minutes; prints figures, judges nothing.

It runs on a private copy of a KB (default: var/, the one `make run` serves), so the soak's accounts, query logs and
call records never land in the real database. Each simulated agent logs in with its own account and works calls the
way the sidebar does: the suggestion request while typing (``log: false``), the settled text (``log: true``),
sometimes the whole article or feedback, and the call record at the end. Every 10 s the resident memory (RSS) of the
gunicorn master and workers is sampled from /proc.

Run: .venv/bin/python bench/soak.py [--seconds 300] [--agents 16] [--max-requests 400000] [--source var]
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import GUNICORN, GUNICORN_CONFIG, percentile  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.users import create_user, generate_password  # noqa: E402

SAMPLE_SECONDS = 10


def utterances() -> list[tuple[str, str]]:
    """(what the customer says, the article that answers it) from the test query sets."""
    items = []
    for path in sorted((ROOT / "tests" / "queries").glob("*.yaml")):
        for row in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            if isinstance(row, dict) and row.get("query"):
                items.append((str(row["query"]), str(row.get("expect") or "")))
    return items


# --- the KB copy and the server -------------------------------------------------------------------------------------

def copy_kb(source: Path, target: Path) -> None:
    """A consistent copy of the source KB: the database through SQLite's backup API, the index as files."""
    if not (source / "kb.sqlite").exists() or not (source / "index" / "CURRENT").exists():
        sys.exit(f"no KB in {source}: run `make setup` (or `make run`) first, or pass --source")
    with sqlite3.connect(source / "kb.sqlite") as src, sqlite3.connect(target / "kb.sqlite") as dst:
        src.backup(dst)
    shutil.copytree(source / "index", target / "index", symlinks=True)


def add_agents(data_dir: Path, count: int) -> list[tuple[str, str]]:
    db = Database(f"sqlite:///{data_dir / 'kb.sqlite'}")
    accounts = [(f"soak-agent-{i:02d}", generate_password()) for i in range(count)]
    with db.session() as s:
        for name, password in accounts:
            create_user(s, name, "agent", password, display_name=name, actor="soak")
    db.engine.dispose()
    return accounts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path, port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "KB_DATA_DIR": str(data_dir), "KB_DATABASE_URL": f"sqlite:///{data_dir / 'kb.sqlite'}",
           "KB_EMBED_CACHE": str(data_dir / "embed-cache.sqlite"), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    command = [str(ROOT / ".venv" / "bin" / "gunicorn"), "--config", str(GUNICORN_CONFIG), "--workers", str(workers),
               "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "webapp:create_app()"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(data_dir / "gunicorn.log", "wb"))


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


# --- one simulated agent --------------------------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.count = 0

    def add(self, kind: str, seconds: float, status: int | None) -> None:
        with self.lock:
            self.count += 1
            self.latency.setdefault(kind, []).append(seconds)
            if status is None or status >= 400:
                key = f"{kind} {status or 'no answer'}"
                self.errors[key] = self.errors.get(key, 0) + 1


class Agent:
    """One HTTP/1.1 keep-alive connection and the session cookie, like one sidebar tab."""

    def __init__(self, port: int, username: str, password: str, stats: Stats):
        self.port, self.stats = port, stats
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie, self.token = "", ""
        page = self.call("login-page", "GET", "/login")
        self.token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        form = urlencode({"username": username, "password": password, "csrf_token": self.token})
        self.call("login", "POST", "/login", form, "application/x-www-form-urlencoded", expect=302)
        page = self.call("sidebar", "GET", "/agent")
        self.token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def call(self, kind: str, method: str, path: str, body: str | None = None, content_type: str | None = None,
             expect: int | None = None) -> str:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers.update({"Content-Type": content_type or "application/json", "X-CSRF-Token": self.token})
        started = time.perf_counter()
        status, text = None, ""
        for attempt in range(2):  # like a browser: a keep-alive connection the server closed is reopened once
            try:
                self.conn.request(method, path, body=body.encode("utf-8") if body is not None else None,
                                  headers=headers)
                response = self.conn.getresponse()
                text = response.read().decode("utf-8", "replace")
                status = response.status
                break
            except (OSError, http.client.HTTPException) as exc:
                self.conn.close()
                if attempt or not isinstance(exc, (http.client.RemoteDisconnected, ConnectionError)):
                    break
        if status is not None:
            for value in response.headers.get_all("Set-Cookie") or []:
                if value.startswith("session="):
                    self.cookie = value.split(";", 1)[0]
        if expect is not None and status == expect:
            status = 200
        self.stats.add(kind, time.perf_counter() - started, status)
        return text

    def post_json(self, kind: str, path: str, data: dict) -> dict:
        text = self.call(kind, "POST", path, json.dumps(data, ensure_ascii=False))
        try:
            return json.loads(text)
        except ValueError:
            return {}

    def work_call(self, rng: random.Random, phrases: list[tuple[str, str]], stop: threading.Event) -> None:
        """One customer call: 1–4 utterances typed as the sidebar sends them, then the call record."""
        started = dt.datetime.now(dt.timezone.utc)
        texts, shown, call_seconds = [], [], 0.0
        for _ in range(rng.randint(1, 4)):
            if stop.is_set():
                return
            text, _ = rng.choice(phrases)
            cut = rng.randint(2, 4)
            while cut < len(text):  # while typing: every few characters, after the 150 ms debounce
                self.post_json("suggest", "/api/suggest", {"text": text[:cut], "log": False,
                                                           "call_seconds": call_seconds})
                time.sleep(rng.uniform(0.15, 0.4))
                cut += rng.randint(2, 4)
            result = self.post_json("suggest", "/api/suggest", {"text": text, "log": True,
                                                                "call_seconds": call_seconds})
            texts.append(text)
            answers = result.get("answers") or []
            if answers:
                top = answers[0]
                shown.append({"article_id": top["article_id"], "heading": top["heading"], "text": text})
                if rng.random() < 0.3:
                    self.call("article", "GET", f"/agent/article/{quote(top['article_id'])}")
                if rng.random() < 0.2:
                    self.post_json("feedback", "/agent/api/feedback",
                                   {"article_id": top["article_id"], "heading": top["heading"], "query": text,
                                    "helpful": rng.random() < 0.8})
            pause = rng.uniform(1.0, 3.0)  # the customer talks
            call_seconds += pause + 2
            time.sleep(pause)
        ended = dt.datetime.now(dt.timezone.utc)
        self.post_json("call", "/agent/api/calls", {
            "client_id": uuid.uuid4().hex, "started_at": started.isoformat(), "ended_at": ended.isoformat(),
            "duration_seconds": (ended - started).total_seconds(), "texts": texts,
            "answers_shown": shown[:50]})


def run_agent(port, account, stats, phrases, stop, seed, max_requests):
    rng = random.Random(seed)
    try:
        agent = Agent(port, *account, stats)
        while not stop.is_set() and stats.count < max_requests:
            agent.work_call(rng, phrases, stop)
        agent.conn.close()
    except Exception as exc:  # an agent that stops early is an error in the figures, not a silent thread death
        stats.add(f"agent stopped ({type(exc).__name__})", 0.0, None)


# --- main -----------------------------------------------------------------------------------------------------------

def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    return sum((t - mx) * (v - my) for t, v in samples) / var * 3600 if var else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--max-requests", type=int, default=400_000)
    parser.add_argument("--workers", type=int, default=GUNICORN["workers"])
    parser.add_argument("--threads", type=int, default=GUNICORN["threads"])
    parser.add_argument("--source", type=Path, default=ROOT / "var", help="KB data dir to copy (default var/)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="kb-soak-"))
    server = None
    try:
        copy_kb(args.source.resolve(), data_dir)
        accounts = add_agents(data_dir, args.agents)
        port = free_port()
        server = start_server(data_dir, port, args.workers, args.threads)
        warm_started = time.perf_counter()
        probe = None
        while probe is None:
            if server.poll() is not None:
                sys.exit(f"gunicorn exited: see {data_dir / 'gunicorn.log'}")
            try:
                probe = Agent(port, *accounts[0], Stats())
                probe.post_json("warm-up", "/api/suggest", {"text": "卡丢了怎么办", "log": False})
            except (OSError, AttributeError):
                probe = None
                time.sleep(0.5)
        for _ in range(args.workers * 4):  # every worker loads its model before the clock starts
            probe.post_json("warm-up", "/api/suggest", {"text": "理财保本吗", "log": False})
        print(f"server ready (model and index loaded) after {time.perf_counter() - warm_started:.1f} s", flush=True)

        phrases = utterances()
        stats, stop = Stats(), threading.Event()
        samples: list[tuple[float, float, float]] = []  # (t, workers MB, master MB)
        started = time.perf_counter()
        threads = [threading.Thread(target=run_agent, daemon=True,
                                    args=(port, account, stats, phrases, stop, args.seed + i, args.max_requests))
                   for i, account in enumerate(accounts)]
        for thread in threads:
            thread.start()
        while True:
            elapsed = time.perf_counter() - started
            workers = children(server.pid)
            samples.append((elapsed, sum(rss_mb(p) for p in workers), rss_mb(server.pid)))
            print(f"t={elapsed:5.0f} s  requests={stats.count}  errors={sum(stats.errors.values())}  "
                  f"workers={len(workers)}  rss_workers={samples[-1][1]:.0f} MB", flush=True)
            if elapsed >= args.seconds or stats.count >= args.max_requests:
                break
            time.sleep(min(SAMPLE_SECONDS, max(0.1, args.seconds - elapsed)))
        stop.set()
        for thread in threads:
            thread.join(90)
        duration = time.perf_counter() - started
        alive = server.poll() is None
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            server.wait(30)

    suggest = stats.latency.get("suggest", [])
    every = [v for values in stats.latency.values() for v in values]
    worker_mb = [(t, w) for t, w, _ in samples]
    print(f"duration_s {duration:.0f}")
    print(f"agents {args.agents}  (gunicorn {args.workers} workers x {args.threads} threads, loopback)")
    print(f"requests {stats.count}")
    print(f"requests_per_s {stats.count / duration:.1f}")
    print(f"suggest_requests {len(suggest)}")
    print(f"suggest_p50_ms {percentile(suggest, 50) * 1000:.0f}")
    print(f"suggest_p95_ms {percentile(suggest, 95) * 1000:.0f}")
    print(f"suggest_p99_ms {percentile(suggest, 99) * 1000:.0f}")
    print(f"all_p95_ms {percentile(every, 95) * 1000:.0f}")
    for kind in sorted(stats.latency):
        if kind != "suggest":
            print(f"{kind}_requests {len(stats.latency[kind])}  p95_ms {percentile(stats.latency[kind], 95) * 1000:.0f}")
    print(f"errors {sum(stats.errors.values())}" + (f"  {stats.errors}" if stats.errors else ""))
    print(f"rss_workers_mb first {samples[0][1]:.0f}  last {samples[-1][1]:.0f}  max {max(w for _, w in worker_mb):.0f}"
          f"  slope {slope_per_hour(worker_mb):+.1f} MB/h  ({len(samples)} samples every {SAMPLE_SECONDS} s)")
    settled = worker_mb[len(worker_mb) // 2:]
    print(f"rss_workers_slope_second_half {slope_per_hour(settled):+.1f} MB/h  (after the warm-up ramp)")
    master = [(t, m) for t, _, m in samples]
    print(f"rss_master_mb first {master[0][1]:.0f}  last {master[-1][1]:.0f}  slope {slope_per_hour(master):+.1f} MB/h")
    print(f"server_alive_at_end {alive}")
    print(f"summary: {stats.count} requests in {duration:.0f} s ({stats.count / duration:.1f}/s), "
          f"{sum(stats.errors.values())} errors, suggest p95 {percentile(suggest, 95) * 1000:.0f} ms, "
          f"worker RSS {samples[0][1]:.0f} -> {samples[-1][1]:.0f} MB ({slope_per_hour(worker_mb):+.1f} MB/h)")
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
