"""Live call push latency: utterance POST → event received on the agent's stream, for N concurrent live calls, on
gunicorn started with the production config (webapp/gunicorn.conf.py), on loopback, bounded in time.

Every agent (own account) opens the sidebar's SSE stream (``/agent/live/stream``) and keeps it open, reconnecting
with Last-Event-ID when the server ends it (every ``LIVE_STREAM_SECONDS``) as EventSource does. One poster per call
replays a recorded call from demo/calls (cycling the three) at ``--speed`` with its partial results; a final
customer utterance costs the server a whole ``suggest``, a final agent line also the adherence matcher. The figure is
the time from just before the POST is sent to the moment its event is read on the agent's stream; events never
received are counted as lost. Nothing is counted in the first ``--ramp`` seconds, while calls start.

Run: .venv/bin/python bench/live.py [--calls 50] [--seconds 60] [--speed 1]   (make bench-live)
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import GUNICORN, percentile  # noqa: E402
from bench.http_load import Agent, ensure_agents, free_port, start_server  # noqa: E402
from indexer.build import build_index  # noqa: E402
from kb.config import Settings  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.store import import_directory  # noqa: E402
from kb.tokens import create_token  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CALLS = sorted((ROOT / "demo" / "calls").glob("*.jsonl"))
CACHE = ROOT / "var" / "test-embed-cache.sqlite"  # the tests' embedding cache: content/ is already embedded there


def content_kb() -> Settings:
    """content/ imported and indexed in a throw-away data folder."""
    data_dir = Path(tempfile.mkdtemp(prefix="kb-bench-live-"))
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env(data_dir=str(data_dir), database_url=f"sqlite:///{data_dir / 'kb.sqlite'}",
                                 embed_cache_path=str(CACHE))
    settings.ensure_dirs()
    db = Database(settings.database_url)
    db.upgrade()
    import_directory(db, ROOT / "content", author="bench")
    build_index(settings, db, incremental=False, stream=open(os.devnull, "w"))
    db.engine.dispose()
    return settings


class Stream(threading.Thread):
    """One agent's sidebar stream: reads events, notes when each arrived, reconnects after the last id it saw."""

    def __init__(self, port: int, agent: Agent, arrived: dict, stop: threading.Event):
        super().__init__(daemon=True)
        self.port, self.agent, self.arrived, self.stop = port, agent, arrived, stop
        self.last_id: str | None = None
        self.connections = 0
        self.busy = 0
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None and self.conn.sock is not None:
            self.conn.sock.shutdown(2)  # unblocks the reading thread
    def run(self) -> None:
        while not self.stop.is_set():
            conn = self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=70)
            headers = {"Cookie": self.agent.cookie, "Accept": "text/event-stream"}
            if self.last_id:
                headers["Last-Event-ID"] = self.last_id
            try:
                conn.request("GET", "/agent/live/stream", headers=headers)
                response = conn.getresponse()
                self.connections += 1
                self._read(response)
            except OSError:
                time.sleep(0.5)
            finally:
                conn.close()

    def _read(self, response) -> None:
        event: dict = {}
        while not self.stop.is_set():
            line = response.readline()  # decodes the chunked body: the end of a stream reads as b""
            if not line:
                return  # the server ended the stream: reconnect at once (EventSource waits `retry` ms: 500)
            line = line.decode("utf-8").rstrip("\n")
            if line.startswith(": busy"):
                self.busy += 1
                time.sleep(3)
                return
            if line == "":
                if "data" in event:
                    self.last_id = event.get("id", self.last_id)
                    data = json.loads(event["data"])
                    u = data.get("utterance")
                    if u:
                        self.arrived[(data["call_ref"], u["speaker"], u["offset_ms"], u["final"])] = time.monotonic()
                event = {}
            elif ":" in line and not line.startswith(":"):
                name, _, value = line.partition(":")
                event[name] = value.strip()


def post_call(port: int, token: str, agent: str, call_ref: str, lines: list[dict], speed: float, start: float,
              deadline: float, sent: dict, post_ms: list, errors: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for item in lines:
        due = start + item["offset_ms"] / 1000 / speed
        if due > deadline:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        body = {**item, "agent": agent, "call_ref": call_ref}
        began = time.monotonic()
        try:
            conn.request("POST", "/api/live/utterances", json.dumps(body, ensure_ascii=False).encode(), headers)
            response = conn.getresponse()
            response.read()
        except OSError as exc:
            errors.append(str(exc))
            conn.close()
            continue
        post_ms.append((began, (time.monotonic() - began) * 1000))
        if response.status in (200, 201):
            sent[(call_ref, item["speaker"], item["offset_ms"], item["final"])] = began
        else:
            errors.append(f"HTTP {response.status}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--speed", type=float, default=1.0, help="recorded calls played this much faster")
    parser.add_argument("--ramp", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=GUNICORN["workers"])
    parser.add_argument("--threads", type=int, default=GUNICORN["threads"])
    args = parser.parse_args(argv)
    settings = content_kb()
    names = ensure_agents(settings, args.calls)
    db = Database(settings.database_url)
    with db.session() as s:
        _, token = create_token(s, "bench-asr")
    db.engine.dispose()
    recordings = [[json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] for path in CALLS]
    port = free_port()
    access_log = Path(tempfile.mkstemp(prefix="kb-bench-live-", suffix=".log")[1])
    server = start_server(settings, port, args.workers, args.threads, access_log)
    stop = threading.Event()
    streams: list[Stream] = []
    arrived: dict = {}
    sent: dict = {}
    post_ms: list = []
    errors: list = []
    try:
        agents = []
        for name in names:
            agent = Agent(port, name)
            agent.login()
            agents.append(agent)
        streams += [Stream(port, agent, arrived, stop) for agent in agents]
        for stream in streams:
            stream.start()
        time.sleep(2)  # every stream connected (they report busy otherwise, counted below)
        start = time.monotonic()
        deadline = start + args.seconds
        posters = []
        rng = random.Random(7)
        for i, name in enumerate(names):
            lines = recordings[i % len(recordings)]
            # calls start at random moments within the ramp and repeat their recording until the deadline
            offset = rng.uniform(0, args.ramp)
            poster = threading.Thread(target=_repeat, daemon=True, args=(
                port, token, name, f"bench-{i}", lines, args.speed, start + offset, deadline, sent, post_ms,
                errors))
            poster.start()
            posters.append(poster)
        for poster in posters:
            poster.join()
        time.sleep(2)  # the last events on their way
    finally:
        stop.set()
        for stream in streams:
            stream.close()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a worker still holding a stream past gunicorn's graceful timeout
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        access_log.unlink(missing_ok=True)
        shutil.rmtree(settings.data_dir, ignore_errors=True)
    measured_from = start + args.ramp
    latencies = [(arrived[key] - began) * 1000 for key, began in sent.items()
                 if began >= measured_from and key in arrived]
    finals = [(arrived[key] - began) * 1000 for key, began in sent.items()
              if began >= measured_from and key in arrived and key[3]]
    lost = [key for key, began in sent.items() if key not in arrived]
    posts = [ms for began, ms in post_ms if began >= measured_from]
    figures = {"calls": args.calls, "utterances": len(latencies), "p50": percentile(latencies, 50),
               "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
               "final_p95": percentile(finals, 95), "post_p95": percentile(posts, 95), "lost": len(lost),
               "errors": len(errors), "connections": sum(s.connections for s in streams),
               "busy": sum(s.busy for s in streams)}
    print(f"live [{args.calls} calls, gunicorn {args.workers} workers x {args.threads} threads, {args.seconds:.0f} s, "
          f"speed {args.speed}]: {figures['utterances']} utterances ({len(finals)} final), stream connections "
          f"{figures['connections']} (turned away busy {figures['busy']}), lost {figures['lost']}, "
          f"errors {figures['errors']}")
    print(f"live POST p50 {percentile(posts, 50):.0f} ms, p95 {figures['post_p95']:.0f} ms; final utterances POST→event p95 {figures['final_p95']:.0f} ms")
    print(f"live: POST→event p50={figures['p50']:.0f}ms p95={figures['p95']:.0f}ms p99={figures['p99']:.0f}ms")
    if lost:
        print("live lost (sent at s after start): " + ", ".join(
            f"{key[0]}/{key[1]}/{key[2]}@{sent[key] - start:.1f}" for key in sorted(lost, key=sent.get)[:20]))
    if errors:
        kinds: dict = {}
        for error in errors:
            kinds[error] = kinds.get(error, 0) + 1
        print("live errors: " + ", ".join(f"{n}× {k}" for k, n in sorted(kinds.items())))
    return figures


def _repeat(port, token, agent, call_ref, lines, speed, start, deadline, sent, post_ms, errors) -> None:
    """Play the recording again and again (a new call_ref each time) until the deadline."""
    length = lines[-1]["offset_ms"] / 1000 / speed + 1.0
    round_ = 0
    while start < deadline:
        time.sleep(max(0.0, start - time.monotonic()))
        post_call(port, token, agent, f"{call_ref}-{round_}", lines, speed, start, deadline, sent, post_ms, errors)
        start += length
        round_ += 1


if __name__ == "__main__":
    main()
