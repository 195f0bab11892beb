"""Rate limits live in the database: atomic under concurrency, sliding with the clock, and one count across every
app instance (worker or node) that shares the database."""
import threading

import pytest

from kb.db import Database
from kb.users import create_user
from tests.helpers import PASSWORD, Client, run_together
from webapp.ratelimit import RateLimiter


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(empty_db_url):
    database = Database(empty_db_url)
    database.upgrade()
    yield database
    database.engine.dispose()


def test_the_limit_counts_refuses_slides_and_resets(db):
    clock = Clock()
    limiter = RateLimiter(db, "login", limit=3, window_seconds=60, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # keys are apart
    assert RateLimiter(db, "api", limit=3, window_seconds=60, clock=clock).allow("a")  # and so are limiters
    clock.now += 30
    assert not limiter.allow("a")  # refused attempts were not counted, but the window still holds three
    clock.now += 31
    assert limiter.allow("a")  # the first three slid out of the window
    limiter.reset("a")
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]


def test_racing_attempts_never_pass_the_limit(db):
    limiter = RateLimiter(db, "api", limit=10, window_seconds=60)
    results = sum(run_together(lambda _: [limiter.allow("agent1") for _ in range(4)], range(8)), [])
    assert len(results) == 32 and results.count(True) == 10


def test_racing_attempts_on_both_sides_of_a_slot_boundary_never_pass_the_limit(db):
    """Attempts racing as the clock crosses into a new slot write different rows; the limit must still hold."""
    boundary = 1_800_000_000.0  # a multiple of the 6 s slot
    local = threading.local()
    limiter = RateLimiter(db, "api", limit=10, window_seconds=60, clock=lambda: local.now)

    def attempt(now: float) -> list[bool]:
        local.now = now
        return [limiter.allow("agent1") for _ in range(4)]

    results = sum(run_together(attempt, [boundary + (-0.5 if i % 2 else 0.5) for i in range(8)]), [])
    assert len(results) == 32 and results.count(True) == 10


def _fail_login(client: Client, username: str) -> int:
    response = client.http.post("/login", data={"username": username, "password": "wrong-password-xx",
                                                "csrf_token": client.token})
    client.refresh_token()
    return response.status_code


def _new_agent(app, username: str) -> str:
    """An account of its own: the copied KB may hold counts for the shared test accounts."""
    with app.extensions["kb.db"].session() as s:
        create_user(s, username, "agent", PASSWORD)
    return username


def test_the_login_limit_is_counted_across_app_instances(kb_copy, app_factory):
    """Two instances on one database stand for two workers or two nodes: failures on either count once."""
    apps = [app_factory(kb_copy, LOGIN_ATTEMPTS=3) for _ in range(2)]
    agent = _new_agent(apps[0], "node-agent")
    node_a, node_b = (Client(app) for app in apps)
    for client in (node_a, node_b):
        client.refresh_token()
    assert [_fail_login(node_a, agent), _fail_login(node_b, agent), _fail_login(node_a, agent)] == [401, 401, 401]
    right = node_b.http.post("/login", data={"username": agent, "password": PASSWORD,
                                             "csrf_token": node_b.token})
    assert right.status_code == 429  # the fourth attempt, on the other node, even with the right password
    assert node_a.http.post("/login", data={"username": "editor1", "password": PASSWORD,
                                            "csrf_token": node_a.token}).status_code == 302


def test_the_api_limit_is_counted_across_app_instances(kb_copy, app_factory):
    apps = [app_factory(kb_copy, API_RATE_LIMIT=3) for _ in range(2)]
    agent = _new_agent(apps[0], "node-agent")
    node_a, node_b = (Client(app, agent) for app in apps)
    statuses = [client.post_json("/api/suggest", {"text": "挂失", "log": False}).status_code
                for client in (node_a, node_b, node_a, node_b)]
    assert statuses == [200, 200, 200, 429]


def test_a_login_on_one_node_is_valid_on_the_other(kb_copy, app_factory):
    """Same database and same secret key (here: the same data folder's key) make sessions portable."""
    node_a, node_b = (app_factory(kb_copy) for _ in range(2))
    cookie = Client(node_a, "agent1").http.get_cookie("session")
    browser = node_b.test_client()  # the same browser, its next request balanced to the other node
    assert browser.get("/agent").status_code == 302  # not logged in on B yet
    browser.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
    assert browser.get("/agent").status_code == 200
