"""Several nodes, one database: publish on A → searchable on B, a new node's join time with and without the
embeddings shared through the database, memory per node, and HTTP p95 for simulated agents over two gunicorn nodes on
PostgreSQL, beside the same load on one SQLite node. Prints figures only.

Everything runs on loopback with a throw-away PostgreSQL cluster (tests/pgcluster.py) and content/. Each node has
its own data folder and embedding cache file; node A starts from a copy of bench/.cache's cache file (a node that
embedded the content before), so its first build only uploads the vectors to the database. Node B joins with an
empty data folder (its vectors come from the database); node C joins after the shared tables were emptied, as every
node did before embeddings and rule models were shared (it embeds everything and trains the rules itself).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import delete

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import CACHE_DIR, percentile  # noqa: E402
from bench.latency import typing_sequence, utterances  # noqa: E402
from kb.articles import parse_article  # noqa: E402
from kb.db import Database  # noqa: E402
from kb.models import SharedEmbedding, SharedRuleModel  # noqa: E402
from kb.store import import_directory, publish  # noqa: E402
from kb.users import create_user  # noqa: E402
from tests.nodes import Client, Node  # noqa: E402
from tests.pgcluster import PostgresCluster  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-123"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ARTICLE = """---
id: bench-cluster-{n}
title: 极光卡第{n}号权益
type: product
tags: [测试]
aliases: [极光卡{n}]
review_by: 2027-12-31
---
## 极光卡第{n}号权益说明
极光卡持卡人每年可享受{n}次专属的贵宾厅服务，编号{n}。
"""


def prepare(url: str, agents: int) -> list[str]:
    db = Database(url)
    db.upgrade()
    report = import_directory(db, ROOT / "content")
    assert not report.errors
    names = [f"bench-agent-{i:03d}" for i in range(agents)]
    with db.session() as s:
        for name in names:
            create_user(s, name, "agent", PASSWORD, actor="bench")
    db.engine.dispose()
    return names


def wait_for(predicate, timeout: float = 120.0) -> float:
    """Seconds until ``predicate`` holds, polled every 50 ms (a resolution far below the 2 s goal, and 20 probes a
    second stay well under the API limit for a publish's few seconds)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if predicate():
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError("timed out")


def top(client: Client, text: str):
    """The top answer's article id, or None while the node has no answer. A 429 is an error, not a wait: the API
    limit (600 a minute per user, counted across nodes) would otherwise stretch a timing into the limit's window."""
    status, body = client.suggest(text)
    if status == 429:
        raise RuntimeError(f"the probe was rate limited on node {client.node.name}: poll less often")
    return body["answers"][0]["article_id"] if status == 200 and body.get("answers") else None


def log_in(nodes: list[Node], names: list[str]) -> list[Client]:
    """One logged-in client per agent, spread over the nodes in turn. Done before a load's CPU snapshot: each login
    costs about 150 ms of scrypt by design, which is not what serving suggestions costs."""
    clients = []
    for i, name in enumerate(names):
        client = Client(nodes[i % len(nodes)])
        if client.login(name, PASSWORD) != 302:
            raise RuntimeError(f"{name} could not log in")
        clients.append(client)
    return clients


def load(clients: list[Client], seconds: float) -> tuple[list[float], int]:
    """Each agent types utterances on its node for ``seconds`` as in ``make bench`` (bench/http_load.py): a request
    every two characters, 0.25–0.6 s apart, a listening gap of 5–15 s after each utterance, agents starting at
    random points of a gap."""
    texts, results, errors = utterances(), [], []
    deadline = time.monotonic() + seconds

    def agent(client: Client, seed: int):
        rng = random.Random(seed)
        time.sleep(rng.uniform(0, 15.0))
        while time.monotonic() < deadline:
            for prefix in typing_sequence(rng.choice(texts)):
                if time.monotonic() >= deadline:
                    return
                started = time.perf_counter()
                status, _ = client.suggest(prefix)
                (results if status == 200 else errors).append((time.perf_counter() - started) * 1000)
                time.sleep(rng.uniform(0.25, 0.6))
            time.sleep(rng.uniform(5.0, 15.0))

    threads = [threading.Thread(target=agent, args=(c, i)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, len(errors)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cpu(pid: int, waited: bool = False) -> float:
    """CPU seconds (user + system) a process has used; ``waited`` adds its children that have exited (PostgreSQL's
    postmaster reaps its backends, so their time is counted after they end)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if waited else 0)
    return ticks / CLOCK_TICKS


def node_cpu(nodes: list[Node]) -> float:
    """CPU seconds of the nodes' gunicorn processes (master and workers)."""
    return sum(_cpu(pid) for node in nodes for pid in [node.process.pid, *_children(node.process.pid)])


def postgres_cpu(cluster: PostgresCluster) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster, its live processes and the backends that ended."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    return _cpu(postmaster, waited=True) + sum(_cpu(pid) for pid in _children(postmaster))


def cpu_snapshot(nodes: list[Node], cluster: PostgresCluster | None) -> tuple[float, float, float]:
    """CPU seconds so far of the nodes, of PostgreSQL (0 without) and of this process (the simulated agents)."""
    return node_cpu(nodes), postgres_cpu(cluster) if cluster else 0.0, time.process_time()


def cpu_per_request(before: tuple, after: tuple, requests: int) -> str:
    """Where the machine's CPU went per request during a load: what decides latency on a shared 2-core box."""
    nodes, database, agents = ((a - b) * 1000 / max(1, requests) for a, b in zip(after, before))
    return (f"CPU per request: nodes {nodes:.1f} ms, PostgreSQL {database:.1f} ms, "
            f"simulated agents {agents:.1f} ms")


def rss_mb(node: Node) -> float:
    """Resident memory of the node's gunicorn worker(s) (the master only forks them), from /proc."""
    pid = node.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for child in children:
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def last_build(node: Node) -> str:
    """The node's latest build summary from its log (``embedded N, from cache M (shared K)``)."""
    lines = [line for line in node.log.read_text(errors="replace").splitlines() if " build: " in line]
    return lines[-1].split("index update after publish: ", 1)[-1] if lines else "no build logged"


def join(name: str, work: Path, env: dict, user: str, nodes: list[Node]) -> tuple[Node, float]:
    """Start a node with an empty data folder (added to ``nodes`` at once, so it is stopped whatever happens);
    seconds until it answers a query."""
    started = time.perf_counter()
    node = Node(name, _dir(work, name), env)
    nodes.append(node)
    node.start(timeout=1800)  # /healthz says the model and an index are loaded (and costs no rate limit)
    client = Client(node)
    client.login(user, PASSWORD)
    wait_for(lambda: top(client, "卡丢了怎么办") is not None, 1800)
    return node, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--publishes", type=int, default=5)
    parser.add_argument("--cold-join", action=argparse.BooleanOptionalAction, default=True,
                        help="also time a node joining with nothing shared (it embeds everything: minutes)")
    args = parser.parse_args()
    env = {"KB_SECRET_KEY": "bench-cluster-" + "k" * 32, "KB_INDEX_POLL_SECONDS": "2"}
    with throwaway_cluster("kb-bench-cluster-") as (work, cluster, nodes):
        url = cluster.create_database("kb")
        names = prepare(url, args.agents)
        pg_env = dict(env, KB_DATABASE_URL=url)
        seed = CACHE_DIR / "embed-cache.sqlite"
        a_env = dict(pg_env, KB_EMBED_CACHE=str(work / "a-embed-cache.sqlite"))
        if seed.exists():
            shutil.copy(seed, a_env["KB_EMBED_CACHE"])
        node_a, seconds = join("a", work, a_env, names[0], nodes)
        print(f"cluster: node A first start (full build, its cache file → the database) {seconds:.1f}s: "
              f"{last_build(node_a)}")
        node_b, seconds = join("b", work, pg_env, names[0], nodes)
        print(f"cluster: new node join, embeddings and rule model shared through the database (empty data folder → serving) "
              f"{seconds:.1f}s (goal ≤ 60 s): {last_build(node_b)}")
        print(f"cluster: RSS per node after start: A {rss_mb(node_a):.0f} MB, B {rss_mb(node_b):.0f} MB "
              f"(1 worker each)")
        agent_b = Client(node_b)
        agent_b.login(names[0], PASSWORD)
        db = Database(url)
        delays = []
        for n in range(args.publishes):
            with db.session() as s:
                publish(s, parse_article(ARTICLE.format(n=n)), author="bench")
            delays.append(wait_for(lambda: top(agent_b, f"极光卡{n}号权益 编号{n}") == f"bench-cluster-{n}"))
        db.engine.dispose()
        print(f"cluster: publish on A → searchable on B median {statistics.median(delays):.2f}s "
              f"max {max(delays):.2f}s over {len(delays)} publishes (goal ≤ 2 s): "
              f"{', '.join(f'{d:.2f}' for d in delays)} s; B's last build: {last_build(node_b)}")
        clients = log_in([node_a, node_b], names)
        before = cpu_snapshot([node_a, node_b], cluster)
        latencies, errors = load(clients, args.seconds)
        after = cpu_snapshot([node_a, node_b], cluster)
        print(f"cluster: HTTP /api/suggest p50 {percentile(latencies, 50):.0f} ms p95 "
              f"{percentile(latencies, 95):.0f} ms, {len(latencies)} requests, {errors} errors "
              f"({args.agents} agents over 2 PostgreSQL nodes × 1 worker); "
              f"{cpu_per_request(before, after, len(latencies) + errors)}")
        print(f"cluster: RSS per node after the load: A {rss_mb(node_a):.0f} MB, B {rss_mb(node_b):.0f} MB")
        if args.cold_join:
            for node in nodes:  # the join alone, as a new machine would see it
                node.stop()
            nodes.clear()
            with db.session() as s:
                s.execute(delete(SharedEmbedding))
                s.execute(delete(SharedRuleModel))
            db.engine.dispose()
            node_c, seconds = join("c", work, pg_env, names[0], nodes)
            print(f"cluster: new node join, nothing shared (it embeds everything itself) {seconds:.1f}s: "
                  f"{last_build(node_c)}")
        for node in nodes:
            node.stop()
        nodes.clear()
        sqlite_dir = _dir(work, "sqlite")
        sqlite_url = f"sqlite:///{sqlite_dir / 'kb.sqlite'}"
        prepare(sqlite_url, args.agents)
        single_env = dict(env, KB_DATABASE_URL=sqlite_url, KB_EMBED_CACHE=str(work / "sqlite-embed-cache.sqlite"))
        if seed.exists():  # like node A: a node that embedded the content before
            shutil.copy(seed, single_env["KB_EMBED_CACHE"])
        single = Node("sqlite", sqlite_dir, single_env)
        nodes.append(single)
        single.start(timeout=1800)
        probe = Client(single)
        probe.login(names[0], PASSWORD)
        wait_for(lambda: top(probe, "卡丢了怎么办") is not None, 600)
        clients = log_in([single], names)
        before = cpu_snapshot([single], None)
        latencies, errors = load(clients, args.seconds)
        after = cpu_snapshot([single], None)
        print(f"single: HTTP /api/suggest p50 {percentile(latencies, 50):.0f} ms p95 "
              f"{percentile(latencies, 95):.0f} ms, {len(latencies)} requests, {errors} errors "
              f"({args.agents} agents on 1 SQLite node × 1 worker); "
              f"{cpu_per_request(before, after, len(latencies) + errors)}")
    return 0


@contextmanager
def throwaway_cluster(prefix: str):
    """A work folder, a throw-away PostgreSQL cluster and a list for the nodes started on them: all stopped and
    removed afterwards, also on SIGTERM (``timeout``, a CI runner), which unwinds like Ctrl-C: without it the nodes
    and the cluster outlive the bench."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    CACHE_DIR.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = PostgresCluster().start()
    nodes: list[Node] = []
    try:
        yield work, cluster, nodes
    finally:
        for node in nodes:
            node.stop(signal.SIGKILL)
        cluster.remove()
        shutil.rmtree(work, ignore_errors=True)


def _dir(work: Path, name: str) -> Path:
    path = work / name
    path.mkdir(parents=True)
    return path


if __name__ == "__main__":
    sys.exit(main())
