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
