"""Two real gunicorn nodes on loopback, each with its own data folder and embedding cache file, against one
PostgreSQL database: an editor's publish through the form on A is found by B, the login limit is counted across
both, a node killed in the middle of its build catches up when it restarts, and a PostgreSQL restart under load
gives 503s (never 500s) until the nodes recover by themselves."""
import re
import shutil
import signal
import threading
from urllib.parse import urlencode

import pytest

from indexer.follower import indexed_event
from kb import announce
from kb.articles import parse_article
from kb.db import Database
from kb.drafts import fields_from_article
from kb.generation import MANIFEST, current_generation
from kb.models import ArticleRecord
from kb.store import version_article
from tests.helpers import PASSWORD, pristine, run_together, wait_until
from tests.nodes import Client, Node
from tests.test_generations import NEW_ARTICLE

SECOND_ARTICLE = NEW_ARTICLE.replace("test-generation-article", "test-second-article").replace("彩虹卡", "星河卡")
# Enough sections that a node's build spends seconds embedding them: the window the kill lands in.
BIG_ARTICLE = """---
id: test-big-article
title: 星云卡服务手册
type: product
tags: [测试]
aliases: [星云卡]
review_by: 2027-12-31
---
""" + "\n".join(f"## 星云卡第{i}项服务\n星云卡持卡人可在第{i}个服务日预约第{i}项专属服务，需提前{i % 7 + 1}个工作日致电。"
                for i in range(1, 61))


@pytest.fixture
def cluster(pg_cluster, pg_template, kb_settings, tmp_path):
    """Start nodes on one fresh database copied from the template; each node gets the session KB's index."""
    url = pg_cluster.create_database(template=pg_template)
    env = {"KB_DATABASE_URL": url, "KB_SECRET_KEY": "shared-test-secret-" + "x" * 20,
           "KB_INDEX_POLL_SECONDS": "0.5", "KB_EMBED_THREADS": "1"}  # each node's cache file in its data folder
    nodes = []

    def start(name: str) -> Node:
        data_dir = tmp_path / name
        if not data_dir.exists():
            shutil.copytree(pristine(kb_settings) / "index", data_dir / "index", symlinks=True)
        node = Node(name, data_dir, env).start()
        nodes.append(node)
        return node

    start.env, start.url = env, url
    yield start
    for node in nodes:
        node.stop(signal.SIGKILL)
    pg_cluster.drop_database(url.rsplit("/", 1)[1].split("?")[0])


def editor_on(node: Node) -> Client:
    editor = Client(node)
    assert editor.login("editor1", PASSWORD) == 302
    return editor


def publish(editor: Client, article: str) -> None:
    """What an editor does on the node: the new-article form (session cookie + CSRF token), action publish."""
    fields = fields_from_article(parse_article(article))
    form = {**fields, "expected_version": "0", "draft_revision": "0", "message": "节点测试", "action": "publish",
            "csrf_token": editor.token}
    status, body = editor.request("POST", "/editor/new", urlencode(form),
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 302 and f"/editor/articles/{fields['id']}" in editor.last_headers["Location"], body[:500]


def latest_event(url: str) -> int:
    db = Database(url)
    with db.session() as s:
        event = announce.latest_event(s)
    db.engine.dispose()
    return event


# A probe of /api/suggest polls five times a second: under the API limit (600 a minute per user, counted across
# nodes) however long a build takes, so a wait can never turn into waiting for the limit's window.
PROBE_INTERVAL = 0.2


def wait_for(predicate, what: str, timeout: float = 90.0, interval: float = 0.05):
    return wait_until(predicate, timeout, what, interval)


def top(client: Client, text: str) -> str | None:
    status, body = client.suggest(text)
    assert status != 429, "the probe was rate limited: it polls too often"
    return body["answers"][0]["article_id"] if status == 200 and body["answers"] else None


def test_publish_on_a_is_found_on_b_and_the_login_limit_spans_both(cluster):
    node_a, node_b = cluster("a"), cluster("b")
    agent_b = Client(node_b)
    assert agent_b.login("agent1", PASSWORD) == 302
    assert top(agent_b, "彩虹卡贵宾厅") != "test-generation-article"
    publish(editor_on(node_a), NEW_ARTICLE)
    wait_for(lambda: top(agent_b, "彩虹卡贵宾厅") == "test-generation-article", "B to serve A's publish",
             interval=PROBE_INTERVAL)
    # the login limit (10 failures per account and address) is one count across both nodes
    statuses = [Client(node).login("nobody-here", "wrong") for node in (node_a, node_b) * 5]
    assert statuses == [401] * 10
    assert Client(node_a).login("nobody-here", "wrong") == 429
    assert Client(node_b).login("nobody-here", "wrong") == 429
    # a session made on A is valid on B
    agent = Client(node_a)
    assert agent.login("agent1", PASSWORD) == 302
    agent.node = node_b
    assert agent.request("GET", "/agent")[0] == 200


def _edit_form(client: Client, url: str, article_id: str) -> dict:
    """What the node's edit page would submit unchanged: the article's fields and the page's hidden counters."""
    _, page = client.request("GET", f"/editor/articles/{article_id}/edit")
    page = page.decode()
    db = Database(url)
    with db.session() as s:
        form = fields_from_article(version_article(s.get(ArticleRecord, article_id).current))
    db.engine.dispose()
    for name in ("expected_version", "draft_revision"):
        form[name] = re.search(rf'name="{name}" value="(\d+)"', page).group(1)
    return form


def test_editors_racing_on_two_nodes_one_wins_one_gets_409_with_their_text(cluster):
    node_a, node_b = cluster("a"), cluster("b")
    editors = [Client(node_a), Client(node_b)]
    for editor, name in zip(editors, ("editor1", "admin1")):
        assert editor.login(name, PASSWORD) == 302
    forms = [_edit_form(editor, cluster.url, "lost-card-freeze") for editor in editors]
    bodies = [urlencode({**forms[index], "action": "publish", "csrf_token": editors[index].token,
                         "body": forms[index]["body"] + f"\n\n第{index + 1}位编辑在节点上的补充。"})
              for index in range(2)]
    results = run_together(lambda index: editors[index].request(
        "POST", "/editor/articles/lost-card-freeze/edit", bodies[index],
        {"Content-Type": "application/x-www-form-urlencoded"}), range(2))
    assert sorted(status for status, _ in results) == [302, 409]
    loser = next(i for i, (status, _) in enumerate(results) if status == 409)
    page = results[loser][1].decode()
    assert "发布被拒绝" in page and f"第{loser + 1}位编辑在节点上的补充。</textarea>" in page
    db = Database(cluster.url)
    with db.session() as s:
        record = s.get(ArticleRecord, "lost-card-freeze")
        assert record.version == 2 and f"第{2 - loser}位编辑" in record.current.body
    db.engine.dispose()


def test_a_node_killed_in_the_middle_of_its_build_catches_up_when_it_restarts(cluster):
    node_a, node_b = cluster("a"), cluster("b")
    editor = editor_on(node_a)
    index_b = node_b.data_dir / "index"
    live, existing = current_generation(index_b), set(index_b.glob("gen-*"))
    publish(editor, BIG_ARTICLE)
    # B's follower starts a build: kill B once its new generation has a keyword index (60 sections to embed next)
    partial = wait_for(lambda: [g for g in set(index_b.glob("gen-*")) - existing if (g / "keyword").is_dir()],
                       "B to start writing a generation")
    node_b.stop(signal.SIGKILL)
    assert not any((g / MANIFEST).exists() for g in partial), "B finished its build before it was killed"
    assert current_generation(index_b) == live  # the half-built generation was never served
    assert indexed_event(index_b) < latest_event(cluster.url)  # B's own mark says it is behind
    publish(editor, SECOND_ARTICLE)  # and one more while it is down
    node_b.start()
    agent_b = Client(node_b)
    assert agent_b.login("agent1", PASSWORD) == 302
    wait_for(lambda: top(agent_b, "星云卡第37项服务") == "test-big-article", "B to catch up (killed build)",
             interval=PROBE_INTERVAL)
    wait_for(lambda: top(agent_b, "星河卡贵宾厅") == "test-second-article", "B to catch up (published while down)",
             interval=PROBE_INTERVAL)
    assert indexed_event(index_b) == latest_event(cluster.url)


def test_a_postgresql_restart_under_load_gives_503s_and_the_nodes_recover(cluster, pg_cluster):
    nodes = [cluster("a"), cluster("b")]
    agents = [Client(node) for node in nodes]
    for agent in agents:
        assert agent.login("agent1", PASSWORD) == 302
    seen, stop = [], threading.Event()

    def load(agent: Client):
        while not stop.is_set():
            status, body = agent.suggest("卡丢了怎么办")
            seen.append((status, body.get("error", ""), agent.last_headers.get("Retry-After")))

    threads = [threading.Thread(target=load, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(seen) >= 4, "load to start")
        pg_cluster.stop()
        during = len(seen)
        wait_for(lambda: sum(1 for s in seen[during:] if s[0] == 503) >= 4, "503s while PostgreSQL is down")
        pg_cluster.start()
        recovered = len(seen)
        wait_for(lambda: sum(1 for s in seen[recovered:] if s[0] == 200) >= 10, "the nodes to recover")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert {status for status, _, _ in seen} <= {200, 503}, [s for s in seen if s[0] not in (200, 503)][:3]
    outage = [s for s in seen if s[0] == 503]
    assert all("没有保存" in error and retry for _, error, retry in outage), outage[:3]
    assert all(top(agent, "卡丢了怎么办") for agent in agents)  # both serve again, neither restarted
