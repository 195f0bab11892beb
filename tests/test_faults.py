"""Database faults and concurrent editors: a clear 503 or 409, nothing half-written, and service resumes by itself.

(The indexer killed mid-build is covered in test_generations.py.)
"""
from __future__ import annotations

import dataclasses
import sqlite3

import pytest
from sqlalchemy import func, select

from kb.drafts import fields_from_article
from kb.models import ArticleDraft, ArticleRecord, ArticleVersion, AuditEntry, CallRecord
from kb.store import version_article
from kb.users import create_user
from tests.helpers import PASSWORD, Client, run_together

ARTICLE = "lost-card-freeze"


def db_of(app):
    return app.extensions["kb.db"]


def snapshot(app) -> tuple:
    """Everything an editor or agent write could touch, to prove a failed write left no trace."""
    with db_of(app).session() as s:
        record = s.get(ArticleRecord, ARTICLE)
        return (record.version, record.current_version_id,
                s.scalar(select(func.count()).select_from(ArticleVersion)),
                s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action != "login")),
                s.scalar(select(func.count()).select_from(ArticleDraft)),
                s.scalar(select(func.count()).select_from(CallRecord)))


def edit_form(app, **changes) -> dict:
    with db_of(app).session() as s:
        record = s.get(ArticleRecord, ARTICLE)
        form = {**fields_from_article(version_article(record.current)), "expected_version": record.version,
                "draft_revision": 0}
    return {**form, **changes}


def submit(client: Client, form: dict, action: str):
    return client.http.post(f"/editor/articles/{ARTICLE}/edit", data={**form, "action": action,
                                                                      "csrf_token": client.token})


CALL = {"client_id": "fault-call-1", "started_at": "2026-03-02T09:00:00Z", "ended_at": "2026-03-02T09:05:00Z",
        "duration_seconds": 300, "texts": ["卡丢了"]}


@pytest.fixture
def fast_busy(monkeypatch):
    monkeypatch.setenv("KB_DB_BUSY_TIMEOUT", "0.5")  # a locked database fails in half a second, not 15


@pytest.mark.sqlite_only
def test_locked_database_gives_503_writes_nothing_and_recovers(kb_copy, app_factory, fast_busy):
    app = app_factory(kb_copy)
    editor, agent = Client(app, "editor1"), Client(app, "agent1")
    before = snapshot(app)
    holder = sqlite3.connect(kb_copy.data_dir / "kb.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        form = edit_form(app, body=edit_form(app)["body"] + "\n\n锁定期间的修改。", message="锁")
        published = submit(editor, form, "publish")
        page = published.get_data(as_text=True)
        assert published.status_code == 503 and "没有保存" in page and "Traceback" not in page
        assert published.headers["Retry-After"]
        assert submit(editor, form, "draft").status_code == 503
        call = agent.post_json("/agent/api/calls", CALL)
        assert call.status_code == 503 and "没有保存" in call.get_json()["error"]
        assert agent.get("/agent").status_code == 200  # readers carry on (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert snapshot(app) == before
    assert submit(editor, form, "publish").status_code == 302
    assert agent.post_json("/agent/api/calls", CALL).status_code == 201
    with db_of(app).session() as s:
        assert s.get(ArticleRecord, ARTICLE).version == before[0] + 1


@pytest.mark.sqlite_only
def test_read_only_database_gives_503_and_writes_nothing(kb_copy, app_factory):
    app = app_factory(kb_copy)
    editor = Client(app, "editor1")
    before = snapshot(app)
    path = kb_copy.data_dir / "kb.sqlite"
    read_only = app_factory(dataclasses.replace(kb_copy, database_url=f"sqlite:///file:{path}?mode=ro&uri=true"))
    stuck = Client(read_only)
    stuck.http.set_cookie("session", editor.http.get_cookie("session").value)  # same secret key: same session
    stuck.token = editor.token
    assert stuck.get(f"/editor/articles/{ARTICLE}").status_code == 200
    form = edit_form(app, body=edit_form(app)["body"] + "\n\n只读期间的修改。")
    response = submit(stuck, form, "publish")
    assert response.status_code == 503 and "没有保存" in response.get_data(as_text=True)
    login = Client(read_only)
    login.refresh_token()
    failed = login.http.post("/login", data={"username": "agent1", "password": PASSWORD, "csrf_token": login.token})
    assert failed.status_code == 503  # the login audit entry cannot be written: say so, not a 500
    assert snapshot(app) == before
    assert submit(editor, form, "publish").status_code == 302  # the writable app is unaffected


def test_concurrent_publishes_from_one_version_one_wins_the_rest_conflict(kb_copy, app_factory):
    app = app_factory(kb_copy)
    editors = 6
    with db_of(app).session() as s:
        for n in range(editors):
            create_user(s, f"racer{n}", "editor", PASSWORD)
    clients = [Client(app, f"racer{n}") for n in range(editors)]
    start = edit_form(app)
    forms = [{**start, "body": start["body"] + f"\n\n编辑 {n} 的补充。"} for n in range(editors)]
    statuses = run_together(lambda n: submit(clients[n], forms[n], "publish").status_code, range(editors))
    assert sorted(statuses) == [302] + [409] * (editors - 1), statuses
    winner = statuses.index(302)
    with db_of(app).session() as s:
        record = s.get(ArticleRecord, ARTICLE)
        numbers = list(s.scalars(select(ArticleVersion.number).where(ArticleVersion.article_id == ARTICLE)
                                 .order_by(ArticleVersion.number)))
        assert record.version == start["expected_version"] + 1
        assert numbers == list(range(1, record.version + 1))  # consecutive, nothing skipped or doubled
        assert record.current.body.endswith(f"编辑 {winner} 的补充。")
        assert record.current.author == f"racer{winner}"
