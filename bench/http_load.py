"""HTTP /api/suggest under simulated agents on a production WSGI server (gunicorn), on loopback, bounded in time.

Each simulated agent logs in (its own account), then works like an agent on calls: types what the customer said, the
sidebar sending a request every two characters (0.25–0.6 s apart: typing with the 150 ms debounce), then listens for
5–15 s before typing the next utterance. All agents log in before the clock starts (their login time is printed
separately) and the first 15 s, while agents join at random points of their calls, are not counted. Prints requests/s,
p50/p95/p99 and errors for the measured time; then every agent logs in again within 5 s while all keep typing (the
start of a shift), and the suggestions of those 10 s are reported on their own.
Run: .venv/bin/python bench/http_load.py [--agents 50] [--seconds 60] [--size 50k] [--workers N] [--threads N]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import GUNICORN, GUNICORN_CONFIG, percentile  # noqa: E402
from bench.corpus import SIZES, ensure_corpus  # noqa: E402
from bench.latency import typing_sequence, utterances  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.models import User  # noqa: E402
from kb.users import create_user  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-agent-password"
# Requests sent in the first seconds, while agents start at random points of their calls, are not counted.
RAMP_UP_SECONDS = 15.0
# After the measured minute, every agent logs in again (a new session) within STORM_LOGIN_SECONDS while they all keep
# typing: the start of a shift. Suggestions sent during the storm window are reported on their own.
STORM_LOGIN_SECONDS = 5.0
STORM_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_agents(settings, count: int) -> list[str]:
    db = Database(settings.database_url)
    db.upgrade()
    names = [f"bench-agent-{i:03d}" for i in range(count)]
    with db.session() as s:
        existing = {u.username for u in s.query(User).filter(User.username.in_(names))}
        for name in names:
            if name not in existing:
                create_user(s, name, "agent", PASSWORD, actor="bench")
    return names


class Agent:
    """One simulated agent with its own keep-alive connection, session cookie and CSRF token."""

    def __init__(self, port: int, username: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie, self.token = "", ""
        self.username = username

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed an idle keep-alive connection; a browser reconnects and resends, so do we (once).
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        return response.status, data

    def login(self):
        _, page = self.request("GET", "/login")
        self.token = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
        status, _ = self.request("POST", "/login", urlencode({"username": self.username, "password": PASSWORD,
                                                               "csrf_token": self.token}),
                                 {"Content-Type": "application/x-www-form-urlencoded"})
        _, page = self.request("GET", "/search")
        self.token = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
        return status

    def suggest(self, text: str) -> int:
        body = json.dumps({"text": text, "log": False}, ensure_ascii=False).encode()
        status, _ = self.request("POST", "/api/suggest", body, {"Content-Type": "application/json",
                                                               "X-CSRF-Token": self.token})
        return status


def run_agent(agent, texts, start, deadline, results, seed):
    """Type utterances until ``deadline``; each result is (start time, milliseconds, error or None)."""
    rng = random.Random(seed)
    # Agents on a shift are at different points of their calls: each starts at a random point of one listening gap.
    time.sleep(max(0.0, start - time.monotonic()) + rng.uniform(0, 15.0))
    while time.monotonic() < deadline:
        for prefix in typing_sequence(rng.choice(texts)):
            if time.monotonic() >= deadline:
                return
            sent = time.monotonic()
            started = time.perf_counter()
            try:
                status = agent.suggest(prefix)
                error = None if status == 200 else f"HTTP {status}"
            except Exception as exc:  # noqa: BLE001 - every failure is an error to count, not to crash on
                error = str(exc)
                agent.conn.close()
            results.append((sent, (time.perf_counter() - started) * 1000, error))
            time.sleep(rng.uniform(0.25, 0.6))
        time.sleep(rng.uniform(5.0, 15.0))


def log_in(port: int, names: list[str]) -> list[Agent]:
    """Every agent logs in before the clock starts: a shift starts with logins, not in the middle of typing, and
    password hashing (scrypt) is deliberately slow."""
    agents = [Agent(port, name) for name in names]
    started = time.perf_counter()
    for agent in agents:
        if agent.login() != 302:
            raise RuntimeError(f"{agent.username} could not log in")
    elapsed = time.perf_counter() - started
    print(f"http logins: {len(agents)} agents in {elapsed:.1f}s ({elapsed / len(agents) * 1000:.0f} ms each, "
          f"mostly scrypt password verification)", flush=True)
    return agents


def login_storm(port: int, names: list[str], start: float, logins: list) -> None:
    """Log every account in once more, at random moments within STORM_LOGIN_SECONDS from ``start``."""
    def one(name: str, at: float) -> None:
        time.sleep(max(0.0, at - time.monotonic()))
        began = time.perf_counter()
        try:
            ok = Agent(port, name).login() == 302
        except Exception:  # noqa: BLE001 - a failed login is an error to count
            ok = False
        logins.append(((time.perf_counter() - began) * 1000, ok))

    rng = random.Random(7)
    threads = [threading.Thread(target=one, args=(name, start + rng.uniform(0, STORM_LOGIN_SECONDS)))
               for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def summarise(results: list) -> dict:
    latencies = [ms for ms, error in results if error is None]
    errors = [error for _, error in results if error is not None]
    return {"requests": len(results), "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99), "errors": len(errors), "error_samples": errors[:5]}


def server_side_ms(access_log: Path) -> list[float]:
    """Request times gunicorn measured itself for /api/suggest (excludes the load generator's own delays)."""
    times = []
    for line in access_log.read_text().splitlines():
        path, status, ms = line.split()
        if path == "/api/suggest" and status == "200":
            times.append(float(ms))
    return times


def start_server(settings, port: int, workers: int, threads: int, access_log: Path) -> subprocess.Popen:
    env = dict(os.environ, KB_DATA_DIR=str(settings.data_dir), KB_DATABASE_URL=settings.database_url,
               KB_EMBED_CACHE=str(settings.embed_cache_path))
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gunicorn"), "--config", str(GUNICORN_CONFIG),
                               "--workers", str(workers), "--threads", str(threads), "--bind", f"127.0.0.1:{port}",
                               "--access-logfile", str(access_log), "--access-logformat", "%(U)s %(s)s %(M)s",
                               "webapp:create_app()"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + 300
    ready_in_a_row = 0
    while time.monotonic() < deadline:
        # Every worker loads the model and index after it boots; a fresh connection may reach any worker, so wait
        # until many answers in a row say ready.
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            ready = response.status == 200 and json.loads(response.read()).get("ready")
            conn.close()
        except OSError:
            ready = False
        ready_in_a_row = ready_in_a_row + 1 if ready else 0
        if ready_in_a_row >= 6 * workers:
            return server
        time.sleep(0.2)
    server.kill()
    raise RuntimeError("gunicorn did not start")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--size", choices=list(SIZES), default="50k")
    parser.add_argument("--workers", type=int, default=GUNICORN["workers"])
    parser.add_argument("--threads", type=int, default=GUNICORN["threads"])
    args = parser.parse_args(argv)
    settings = ensure_corpus(args.size)
    names = ensure_agents(settings, args.agents)
    port = free_port()
    access_log = Path(tempfile.mkstemp(prefix="kb-bench-access-", suffix=".log")[1])
    server = start_server(settings, port, args.workers, args.threads, access_log)
    try:
        agents = log_in(port, names)
        for _ in range(args.workers * 4):  # every worker has loaded its model and index
            agents[0].suggest("预热")
        texts = utterances()
        results: list = []
        start = time.monotonic()
        measured_from = start + RAMP_UP_SECONDS
        storm_from = measured_from + args.seconds
        deadline = storm_from + STORM_SECONDS
        threads = [threading.Thread(target=run_agent, args=(agent, texts, start, deadline, results, i))
                   for i, agent in enumerate(agents)]
        for t in threads:
            t.start()
        logins: list = []
        login_storm(port, names, storm_from, logins)
        for t in threads:
            t.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    server_ms = server_side_ms(access_log)
    access_log.unlink()
    figures = summarise([(ms, error) for sent, ms, error in results if measured_from <= sent < storm_from])
    figures["rps"] = figures["requests"] / args.seconds
    storm = summarise([(ms, error) for sent, ms, error in results if sent >= storm_from])
    print(f"http [{args.size}, gunicorn {args.workers} workers x {args.threads} threads, {args.agents} agents, "
          f"{args.seconds:.0f}s after {RAMP_UP_SECONDS:.0f}s ramp-up]: {figures['requests']} requests, "
          f"{figures['rps']:.1f} req/s, p50={figures['p50']:.1f}ms p95={figures['p95']:.1f}ms "
          f"p99={figures['p99']:.1f}ms errors={figures['errors']}")
    if figures["errors"]:
        print(f"http errors (first 5): {figures['error_samples']}")
    login_ms = [ms for ms, ok in logins if ok]
    print(f"http login storm ({len(names)} logins within {STORM_LOGIN_SECONDS:.0f}s while everyone types, "
          f"{STORM_SECONDS:.0f}s window): suggest p95={storm['p95']:.1f}ms p99={storm['p99']:.1f}ms "
          f"n={storm['requests']} errors={storm['errors']}; login p50={percentile(login_ms, 50):.0f}ms "
          f"p95={percentile(login_ms, 95):.0f}ms failed={len(logins) - len(login_ms)}")
    print(f"http server-side (gunicorn's own request time, whole run): p50={percentile(server_ms, 50):.1f}ms "
          f"p95={percentile(server_ms, 95):.1f}ms p99={percentile(server_ms, 99):.1f}ms")
    return figures


if __name__ == "__main__":
    main()
