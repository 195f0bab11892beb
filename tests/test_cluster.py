"""Several nodes, one database: each node keeps its own data folder (index generations) and follows publishes made
on any other node, through LISTEN/NOTIFY on PostgreSQL and the polling fallback on SQLite."""
import shutil

from tests.helpers import Client, make_settings, wait_until
from tests.test_generations import _publish_new_article

QUERY = "彩虹卡贵宾厅"


def second_node(kb_copy, tmp_path):
    """Node B: its own data folder (a copy of A's index, as a node that joined earlier), the same database."""
    data_dir = tmp_path / "node-b"
    shutil.copytree(kb_copy.index_dir, data_dir / "index", symlinks=True)
    if (kb_copy.data_dir / "secret_key").exists():  # the same KB_SECRET_KEY on every node
        shutil.copy(kb_copy.data_dir / "secret_key", data_dir / "secret_key")
    return make_settings(data_dir, database_url=kb_copy.database_url)


def wait_for(predicate, what: str, timeout: float = 60.0):
    return wait_until(predicate, timeout, what)


def top_answer(client: Client) -> str | None:
    answers = client.post_json("/api/suggest", {"text": QUERY, "log": False}).get_json()["answers"]
    return answers[0]["article_id"] if answers else None


def test_a_publish_on_one_node_is_found_on_the_other(kb_copy, app_factory, tmp_path):
    node_a = app_factory(kb_copy)
    Client(node_a, "agent1").get("/healthz")  # A exists and serves; the publish below is made through its database
    node_b = app_factory(second_node(kb_copy, tmp_path), FOLLOW_INDEX=True, INDEX_POLL_SECONDS=0.2)
    follower = node_b.extensions["kb.index_follower"]
    agent_b = Client(node_b, "agent1")
    assert top_answer(agent_b) != "test-generation-article"
    wait_for(lambda: follower.seen is not None, "node B's follower to start")
    _publish_new_article(kb_copy)  # what the editor on A does: a new version, announced at commit
    wait_for(lambda: top_answer(agent_b) == "test-generation-article", "node B to serve the new article")
    if kb_copy.database_url.startswith("postgresql"):
        assert follower.notifications >= 1  # heard through LISTEN/NOTIFY, not only polled
    follower.stop()


def test_a_node_that_was_down_during_a_publish_catches_up_when_it_starts(kb_copy, app_factory, tmp_path):
    settings_b = second_node(kb_copy, tmp_path)
    _publish_new_article(kb_copy)  # node B is not running
    node_b = app_factory(settings_b, FOLLOW_INDEX=True, INDEX_POLL_SECONDS=0.2)
    agent_b = Client(node_b, "agent1")
    wait_for(lambda: top_answer(agent_b) == "test-generation-article", "node B to catch up")
    node_b.extensions["kb.index_follower"].stop()
