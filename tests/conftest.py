"""Fixtures that build a real knowledge base: database, index generation and the real e5 model.

The session KB is built once from content/ (embedding is the slow part). Its embedding cache lives in var/ (git-
ignored) so a second local run is fast; CI starts cold.

Every test that touches the database runs twice, on SQLite and on PostgreSQL, through one fixture: ``db_backend``
(parametrised by ``pytest_generate_tests``). The PostgreSQL side is a throw-away cluster started for the session
(``tests/pgcluster.py``); each test that needs a private database gets a copy of a template database, which takes a
fraction of a second. Browser tests and tests marked ``sqlite_only`` (SQLite's own failure modes) run on SQLite.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select

from indexer.build import build_index
from kb.config import Settings
from kb.db import Database
from kb.engine import KnowledgeBase
from kb.models import RateLimitCount, SharedEmbedding, SharedRuleModel
from kb.store import import_directory
from kb.users import create_user
from tests.helpers import CHROMIUM, CHROMIUM_ARGS, CONTENT, PASSWORD, Client, make_settings, pristine
from tests.pgcluster import PostgresCluster


def fill_kb(db: Database) -> None:
    """content/ imported, plus one account per role (password PASSWORD)."""
    db.upgrade()
    report = import_directory(db, CONTENT)
    assert not report.errors, [str(e) for e in report.errors]
    with db.session() as s:
        for role in ("agent", "editor", "trainer", "admin"):
            create_user(s, f"{role}1", role, PASSWORD, display_name=f"{role} one")


@pytest.fixture(scope="session")
def kb_settings(tmp_path_factory) -> Settings:
    """The session KB on SQLite: all of content/ imported and indexed, one account per role. A pristine copy of its
    data folder is kept for the PostgreSQL side (its index matches the template database)."""
    settings = make_settings(tmp_path_factory.mktemp("kb"))
    settings.ensure_dirs()
    db = Database(settings.database_url)
    fill_kb(db)
    build_index(settings, db, incremental=False)
    db.engine.dispose()
    shutil.copytree(settings.data_dir, pristine(settings), symlinks=True)
    return settings


@pytest.fixture(scope="session")
def kb(kb_settings) -> KnowledgeBase:
    return KnowledgeBase(kb_settings)


def pytest_generate_tests(metafunc):
    """``db_backend``: both engines for tests that touch the database; SQLite only in the browser and for tests
    about SQLite's own behaviour (marked ``sqlite_only``)."""
    if "db_backend" not in metafunc.fixturenames:
        return
    sqlite_only = ("page" in metafunc.fixturenames or "browser" in metafunc.fixturenames
                   or metafunc.definition.get_closest_marker("sqlite_only") is not None)
    metafunc.parametrize("db_backend", ["sqlite"] if sqlite_only else ["sqlite", "postgresql"], indirect=True,
                         scope="session")


def pytest_configure(config):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    config.addinivalue_line("markers", "sqlite_only: the test is about SQLite itself (locks, a read-only file)")


@pytest.fixture(scope="session")
def db_backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def pg_cluster():
    """A throw-away PostgreSQL cluster for the session, removed afterwards (also when the session fails)."""
    cluster = PostgresCluster()
    try:
        yield cluster.start()
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def pg_template(pg_cluster, kb_settings) -> str:
    """Name of a PostgreSQL database holding what the session KB's database held when it was built (content/, the
    accounts and the shared embeddings and rule model its build stored). Nothing stays connected to it, so it can serve as a
    template."""
    url = pg_cluster.create_database("kb_template")
    db = Database(url)
    fill_kb(db)
    source = Database(kb_settings.database_url)
    for table in (SharedEmbedding.__table__, SharedRuleModel.__table__):
        with source.engine.connect() as conn:
            rows = [dict(row._mapping) for row in conn.execute(select(table))]
        with db.engine.begin() as conn:
            conn.execute(insert(table), rows)
    source.engine.dispose()
    db.engine.dispose()
    return "kb_template"


def _pg_copy(pg_cluster, pg_template, kb_settings, data_dir: Path) -> Settings:
    """A data folder with the session KB's index and a new PostgreSQL database copied from the template."""
    shutil.copytree(pristine(kb_settings), data_dir, symlinks=True)
    for stale in data_dir.glob("kb.sqlite*"):
        stale.unlink()
    return make_settings(data_dir, database_url=pg_cluster.create_database(template=pg_template))


@pytest.fixture(scope="session")
def kb_shared(db_backend, kb_settings, tmp_path_factory, request) -> Settings:
    """The session KB on the backend under test (the session app serves it)."""
    if db_backend == "sqlite":
        return kb_settings
    cluster, template = request.getfixturevalue("pg_cluster"), request.getfixturevalue("pg_template")
    settings = _pg_copy(cluster, template, kb_settings, tmp_path_factory.mktemp("kb-pg") / "kb")
    build_index(settings, Database(settings.database_url), incremental=True)  # the index agrees with this database
    return settings


@pytest.fixture
def kb_copy(db_backend, kb_settings, tmp_path, request) -> Settings:
    """A private copy of the session KB for tests that change content or the index."""
    data_dir = tmp_path / "kb"
    if db_backend == "sqlite":
        shutil.copytree(kb_settings.data_dir, data_dir, symlinks=True)
        settings = make_settings(data_dir)
        _forget_rate_limits(settings)
        yield settings
        return
    cluster = request.getfixturevalue("pg_cluster")
    settings = _pg_copy(cluster, request.getfixturevalue("pg_template"), kb_settings, data_dir)
    yield settings
    cluster.drop_database(settings.database_url.rsplit("/", 1)[1].split("?")[0])


def _forget_rate_limits(settings: Settings) -> None:
    """The session's earlier requests counted against the shared accounts' limits; a private copy starts at zero,
    as the PostgreSQL copies (made from the template) do."""
    db = Database(settings.database_url)
    with db.session() as s:
        s.execute(delete(RateLimitCount))
    db.engine.dispose()


@pytest.fixture
def empty_db_url(db_backend, tmp_path, request) -> str:
    """An empty database on the backend under test (no tables)."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database()
    yield url
    cluster.drop_database(url.rsplit("/", 1)[1].split("?")[0])


@pytest.fixture
def app_factory():
    """Apps on the test's settings; afterwards each app's query log is flushed, so its writer thread is done before
    the test's database goes away."""
    from webapp import create_app

    apps = []

    def factory(settings: Settings, **config):
        apps.append(create_app({"SETTINGS": settings, "TESTING": True, **config}))
        return apps[-1]

    yield factory
    for app in apps:
        app.extensions["kb.querylog"].flush()


@pytest.fixture(scope="session")
def app(kb_shared):
    from webapp import create_app
    return create_app({"SETTINGS": kb_shared, "TESTING": True})


@pytest.fixture
def client_for(app):
    return lambda username=None: Client(app, username)


# --- real browser (Debian chromium via Playwright) and live servers -------------------------------------------------

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
