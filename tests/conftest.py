"""Fixtures that build a real knowledge base: SQLite file, index generation and the real e5 model.

The session KB is built once from content/ (embedding is the slow part). Its embedding cache lives in var/ (git-
ignored) so a second local run is fast; CI starts cold.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from indexer.build import build_index
from kb.config import Settings
from kb.db import Database
from kb.engine import KnowledgeBase
from kb.store import import_directory
from kb.users import create_user

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
TEST_CACHE = ROOT / "var" / "test-embed-cache.sqlite"
PASSWORD = "correct-horse-battery"


def make_settings(data_dir: Path, **overrides) -> Settings:
    TEST_CACHE.parent.mkdir(parents=True, exist_ok=True)
    return Settings.from_env(data_dir=str(data_dir), database_url=f"sqlite:///{data_dir / 'kb.sqlite'}",
                             embed_cache_path=str(overrides.pop("embed_cache_path", TEST_CACHE)), **overrides)


@pytest.fixture(scope="session")
def kb_settings(tmp_path_factory) -> Settings:
    """A KB with all of content/ imported and indexed, plus one account per role (password PASSWORD)."""
    settings = make_settings(tmp_path_factory.mktemp("kb"))
    settings.ensure_dirs()
    db = Database(settings.database_url)
    db.create_all()
    report = import_directory(db, CONTENT)
    assert not report.errors, [str(e) for e in report.errors]
    build_index(settings, db, incremental=False)
    with db.session() as s:
        for role in ("agent", "editor", "trainer", "admin"):
            create_user(s, f"{role}1", role, PASSWORD, display_name=f"{role} one")
    return settings


@pytest.fixture(scope="session")
def kb(kb_settings) -> KnowledgeBase:
    return KnowledgeBase(kb_settings)


@pytest.fixture
def kb_copy(kb_settings, tmp_path) -> Settings:
    """A private copy of the session KB for tests that change content or the index."""
    data_dir = tmp_path / "kb"
    shutil.copytree(kb_settings.data_dir, data_dir, symlinks=True)
    return make_settings(data_dir)


@pytest.fixture
def app_factory():
    from webapp import create_app

    def factory(settings: Settings, **config):
        return create_app({"SETTINGS": settings, "TESTING": True, **config})

    return factory


class Client:
    """A Flask test client that logs in through the real form and sends the CSRF token like the pages do."""

    def __init__(self, app, username: str | None = None):
        self.app = app
        self.http = app.test_client()
        self.token = ""
        if username:
            self.login(username)

    def refresh_token(self, path: str = "/login") -> None:
        match = re.search(r'name="csrf-token" content="([^"]+)"', self.http.get(path).get_data(as_text=True))
        self.token = match.group(1)

    def login(self, username: str, password: str = PASSWORD):
        self.refresh_token()
        response = self.http.post("/login", data={"username": username, "password": password,
                                                  "csrf_token": self.token})
        self.refresh_token()
        return response

    def post_json(self, path: str, data, **kwargs):
        return self.http.post(path, json=data, headers={"X-CSRF-Token": self.token}, **kwargs)

    def get(self, path: str, **kwargs):
        return self.http.get(path, **kwargs)


@pytest.fixture(scope="session")
def app(kb_settings):
    from webapp import create_app
    return create_app({"SETTINGS": kb_settings, "TESTING": True})


@pytest.fixture
def client_for(app):
    return lambda username=None: Client(app, username)


def pytest_configure(config):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# --- real browser (Debian chromium via Playwright) and live servers -------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
SCREENSHOTS = ROOT / "var" / "screenshots"


class LiveServer:
    """The real WSGI app on a loopback port in a background thread."""

    def __init__(self, app):
        import threading

        from werkzeug.serving import make_server
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def live_server(app):
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture
def start_server():
    """Start extra live servers (e.g. on a private KB copy); all are stopped after the test."""
    servers = []

    def start(app):
        servers.append(LiveServer(app))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


def browser_login(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
