"""Accounts, roles and the browser-facing defences, checked over the whole URL map rather than route by route.

The role matrix enumerates ``app.url_map``: a route added tomorrow is covered without editing this file, and a route
that forgets ``require_role`` fails here.
"""
from __future__ import annotations

import os
import re
import threading
from html.parser import HTMLParser

import pytest
from sqlalchemy import select
from werkzeug.routing.converters import NumberConverter

from kb import users
from kb.db import Database
from kb.models import User
from tests.helpers import PASSWORD, Client

ARTICLE = "lost-card-freeze"
#: Views that need no login (login itself, logout, the redirect at /, the load balancer's probe, static files).
PUBLIC = {"auth.login", "auth.logout", "index", "healthz", "static"}
#: Training routes agents use to take the quizzes assigned to them; everything else under /training is authoring.
AGENT_TRAINING = {"training.home", "training.start", "training.attempt", "training.answer", "training.feedback"}
ROLE_HOME = {"agent1": "agent", "editor1": "editor", "trainer1": "trainer", "admin1": "admin"}


def routes(app, prefix: str = ""):
    """(rule, method, path with sample values, view) for every route under ``prefix``."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefix) or rule.endpoint == "static":
            continue
        values = {name: 1 if isinstance(conv, NumberConverter) else ARTICLE
                  for name, conv in rule._converters.items()}
        path = app.url_map.bind("localhost").build(rule.endpoint, values)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, path, app.view_functions[rule.endpoint]


def request(client: Client, method: str, path: str):
    if method == "GET":
        return client.http.get(path)
    return client.http.post(path, data={"csrf_token": client.token})


def test_every_route_but_login_declares_its_roles(app):
    missing = [rule.endpoint for rule, _, _, view in routes(app)
               if rule.endpoint not in PUBLIC and not getattr(view, "allowed_roles", None)]
    assert missing == []
    agent_training = {rule.endpoint for rule, _, _, view in routes(app, "/training/")
                      if "agent" in view.allowed_roles}
    assert agent_training == AGENT_TRAINING  # a new training route open to agents must be a deliberate choice


@pytest.mark.parametrize("username,prefix,allowed", [
    ("agent1", "/editor", set()),
    ("agent1", "/training", AGENT_TRAINING),
    ("trainer1", "/editor", set()),
    ("editor1", "/training", set()),
])
def test_wrong_role_gets_403_on_every_route(app, client_for, username, prefix, allowed):
    client = client_for(username)
    checked = 0
    for rule, method, path, _ in routes(app, prefix):
        if rule.endpoint in allowed:
            continue
        response = request(client, method, path)
        assert response.status_code == 403, (username, method, path, response.status_code)
        checked += 1
    assert checked >= 10


def test_agent_gets_403_on_every_editor_and_trainer_authoring_route_as_json_too(app, client_for):
    client = client_for("agent1")
    for rule, method, path, _ in routes(app):
        if not rule.rule.startswith(("/editor", "/training")) or rule.endpoint in AGENT_TRAINING:
            continue
        response = client.http.open(path, method=method, json={}, headers={"X-CSRF-Token": client.token,
                                                                           "Accept": "application/json"})
        assert response.status_code == 403, (method, path)
        assert "error" in response.get_json()


def test_anonymous_goes_to_login_or_gets_401(app, client_for):
    anonymous = client_for()
    anonymous.refresh_token()
    for rule, method, path, _ in routes(app):
        if rule.endpoint in PUBLIC:
            continue
        response = request(anonymous, method, path)
        if path.startswith("/api/"):
            assert response.status_code == 401 and "error" in response.get_json(), path
        else:
            assert response.status_code == 302, (method, path, response.status_code)
            assert response.headers["Location"].startswith("/login"), path


class PageAudit(HTMLParser):
    """Everything in a page that the CSP forbids: inline script bodies, <style>, style= and on*= attributes."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self._script = False

    def handle_starttag(self, tag, attrs):
        names = {name.lower(): value for name, value in attrs}
        if tag == "style":
            self.problems.append("<style> element")
        self._script = tag == "script" and "src" not in names and names.get("type") != "application/json"
        for name in names:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")

    def handle_data(self, data):
        if self._script and data.strip():
            self.problems.append(f"inline script: {data.strip()[:60]}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = False


def test_pages_send_csp_and_hold_no_inline_script_or_style(app, client_for):
    """Every GET page, as admin (who may open all of them) and as an agent on the agent's pages."""
    clients = {"admin1": client_for("admin1"), "agent1": client_for("agent1")}
    pages = 0
    extra = [("agent1", "/agent"), ("agent1", f"/agent/article/{ARTICLE}"), ("agent1", "/search?q=挂失"),
             ("agent1", "/training/"), ("admin1", "/editor/?q=卡"), ("admin1", "/login"),
             ("admin1", f"/editor/articles/{ARTICLE}/diff?a=1&b=1"), ("admin1", "/no-such-page")]
    todo = [("admin1", path) for rule, method, path, _ in routes(app) if method == "GET"] + extra
    for username, path in todo:
        response = clients[username].get(path)
        assert response.status_code < 500, path
        csp = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert response.headers.get("X-Content-Type-Options") == "nosniff"
        if response.mimetype == "text/html":
            audit = PageAudit()
            audit.feed(response.get_data(as_text=True))
            assert audit.problems == [], (path, audit.problems[:5])
            pages += 1
    assert pages >= 20


def test_session_cookie_is_httponly_and_samesite(app):
    client = Client(app)
    client.refresh_token()
    response = client.http.post("/login", data={"username": "agent1", "password": PASSWORD,
                                                "csrf_token": client.token})
    assert response.status_code == 302
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("session="))
    assert "HttpOnly" in cookie and re.search(r"SameSite=(Lax|Strict)", cookie)


def test_missing_or_wrong_csrf_token_gets_400_on_every_post(app, client_for):
    """Checked before the role, so one admin session reaches every blueprint's POST routes."""
    client = client_for("admin1")
    blueprints, exempt = set(), set()
    for rule, method, path, view in routes(app):
        if method != "POST":
            continue
        if getattr(view, "csrf_exempt", False):  # API-token routes: they never read the session cookie
            exempt.add(rule.endpoint)
            assert client.http.post(path, json={}).status_code == 401, path  # a session is not enough
            continue
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            response = client.http.post(path, data={"x": "1"}, headers=headers)
            assert response.status_code == 400, (path, headers, response.status_code)
            assert "CSRF" in response.get_data(as_text=True)
        blueprints.add(rule.endpoint.split(".")[0])
    assert {"auth", "api", "agent", "editor", "training"} <= blueprints
    assert exempt == {"live.utterances", "live.end_call"}  # a new exemption must be a deliberate choice


def test_login_rate_limit_gives_429_even_for_the_right_password(kb_copy, app_factory):
    limited = app_factory(kb_copy, LOGIN_ATTEMPTS=3)
    client = Client(limited)
    client.refresh_token()
    for _ in range(5):  # only failures count: logging in again and again is fine
        assert client.http.post("/login", data={"username": "agent1", "password": PASSWORD,
                                                "csrf_token": client.token}).status_code == 302
        client.refresh_token()
    client.http.post("/logout", data={"csrf_token": client.token})
    client.refresh_token()
    for _ in range(3):
        response = client.http.post("/login", data={"username": "agent1", "password": "wrong-password-xx",
                                                    "csrf_token": client.token})
        assert response.status_code == 401
    response = client.http.post("/login", data={"username": "agent1", "password": PASSWORD,
                                                "csrf_token": client.token})
    assert response.status_code == 429 and "尝试次数过多" in response.get_data(as_text=True)
    assert client.get("/agent").status_code == 302  # not logged in
    other = client.http.post("/login", data={"username": "editor1", "password": PASSWORD,
                                             "csrf_token": client.token})
    assert other.status_code == 302  # the limit is per account and address: one attacker cannot lock out others


def test_login_does_not_redirect_off_site(client_for):
    client = client_for()
    client.refresh_token()
    for target in ("//evil.example/x", "/\\evil.example", "https://evil.example/", "/\t/evil.example"):
        response = client.http.post(f"/login?next={target}", data={"username": "agent1", "password": PASSWORD,
                                                                   "csrf_token": client.token})
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith("/") and not location.startswith("//") and "evil" not in location, location
        client.http.post("/logout", data={"csrf_token": client.token})
        client.refresh_token()


def test_password_hashes_are_never_plaintext(kb_settings):
    with Database(kb_settings.database_url).session() as s:
        users = list(s.scalars(select(User)))
    assert {u.username for u in users} >= set(ROLE_HOME)
    hashes = [u.password_hash for u in users]
    assert all(h.startswith(("scrypt:", "pbkdf2:")) and PASSWORD not in h for h in hashes)
    assert len(set(hashes)) == len(hashes)  # salted: the same password never gives the same hash
    for path in kb_settings.data_dir.glob("kb.sqlite*"):
        assert PASSWORD.encode() not in path.read_bytes(), path


def test_passwords_are_checked_at_lower_priority_than_requests(kb_settings):
    """A burst of logins must not take the CPU from suggestions: scrypt runs in a thread with a higher nice value."""
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    hashing = users._hashing.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result()
    assert hashing == min(19, own + users.HASHING_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own  # the caller is untouched
    with Database(kb_settings.database_url).session() as s:
        assert users.authenticate(s, "agent1", PASSWORD).username == "agent1"
        assert users.authenticate(s, "agent1", PASSWORD + "x") is None
        assert users.authenticate(s, "nobody-by-this-name", PASSWORD) is None


def test_deactivated_account_loses_its_session_at_once(kb_copy, app_factory):
    app = app_factory(kb_copy)
    with app.extensions["kb.db"].session() as s:
        from kb.users import create_user
        create_user(s, "leaver", "editor", PASSWORD)
    client = Client(app, "leaver")
    assert client.get("/editor/").status_code == 200
    with app.extensions["kb.db"].session() as s:
        s.scalar(select(User).where(User.username == "leaver")).active = False
    response = client.get("/editor/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_api_rate_limit_gives_429_per_user(kb_copy, app_factory):
    limited = app_factory(kb_copy, API_RATE_LIMIT=3)
    agent, editor = Client(limited, "agent1"), Client(limited, "editor1")
    statuses = [agent.post_json("/api/suggest", {"text": "挂失", "log": False}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "error" in agent.post_json("/api/suggest", {"text": "挂失"}).get_json()
    assert editor.post_json("/api/suggest", {"text": "挂失", "log": False}).status_code == 200
