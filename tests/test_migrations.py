"""Schema migrations: a database at the baseline keeps every row through the upgrade, the models and the revisions
agree (so a model change without a revision fails here), and ``python -m kb db`` drives them."""
import datetime as dt
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from kb import migrate
from kb.models import NAMING_CONVENTION
from tests.helpers import ROOT

T0 = dt.datetime(2026, 1, 31, 9, 30, 0)

# One or more rows for every table of the baseline revision (0001), written with the baseline's own columns.
BASELINE_ROWS = {
    "users": [dict(id=1, username="agent1", display_name="坐席一", role="agent", password_hash="scrypt:x",
                   active=True, created_at=T0)],
    "articles": [dict(id="card-loss", type="procedure", current_version_id=None, version=1, archived=False,
                      created_at=T0, updated_at=T0)],
    "article_versions": [dict(id=1, article_id="card-loss", number=1, title="挂失", type="procedure",
                              meta_json='{"tags": ["挂失"]}', body="## 受理\n正文", content_hash="h" * 64,
                              author="editor1", message="首次发布", created_at=T0)],
    "article_drafts": [dict(article_id="card-loss", base_version=1, revision=2, fields_json='{"title": "挂失"}',
                            author="editor1", created_at=T0, updated_at=T0)],
    "audit_log": [dict(id=1, at=T0, actor="editor1", action="publish", target="card-loss", detail="v1")],
    "suggest_log": [dict(id=1, at=T0, user="agent1", text="卡丢了", normalized="卡丢了", result_count=3,
                         top_score=0.8, top_article_id="card-loss")],
    # Two uploads of one call (stored twice before the unique constraint existed) and one without a client id.
    "call_records": [dict(id=1, agent="agent1", started_at=T0, ended_at=T0, duration_seconds=60, wait_seconds=0,
                          data={"client_id": "call-1", "texts": ["卡丢了"]}),
                     dict(id=2, agent="agent1", started_at=T0, ended_at=T0, duration_seconds=60, wait_seconds=0,
                          data={"client_id": "call-1", "texts": ["卡丢了"]}),
                     dict(id=3, agent="agent1", started_at=T0, ended_at=T0, duration_seconds=5, wait_seconds=1,
                          data={"texts": []})],
    "feedback": [dict(id=1, at=T0, user="agent1", article_id="card-loss", heading="受理", query="卡丢了",
                      helpful=True)],
    "training_questions": [dict(id=1, key="k" * 64, family="fact", mode="choice", article_id="card-loss",
                                article_type="procedure", article_title="挂失", article_version=1, heading="受理",
                                source_field="body", source_text="正文", prompt="几天？", options=["1 天", "7 天"],
                                answer="7 天", unit="天", status="approved", edited=False, created_by="trainer1",
                                created_at=T0, reviewed_by="trainer1", reviewed_at=T0)],
    "training_quizzes": [dict(id=1, title="挂失测验", pass_mark=80, time_limit_minutes=10, feedback="each",
                              status="published", created_by="trainer1", created_at=T0, published_at=T0)],
    "training_quiz_items": [dict(id=1, quiz_id=1, question_id=1, position=0, snapshot={"prompt": "几天？"})],
    "training_assignments": [dict(id=1, quiz_id=1, username="agent1", assigned_by="trainer1", assigned_at=T0)],
    "training_attempts": [dict(id=1, quiz_id=1, username="agent1", started_at=T0, deadline=None, finished_at=T0,
                               correct=1, total=1, score=100.0, passed=True)],
    "training_answers": [dict(id=1, attempt_id=1, item_id=1, position=0, response="7 天", correct=True,
                              answered_at=T0)],
}


def _engine(url):
    return create_engine(url, poolclass=NullPool)


def _fill_baseline(url):
    migrate.upgrade(url, migrate.BASELINE)
    _insert_baseline_rows(url)


def _insert_baseline_rows(url):
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            tables = MetaData()
            tables.reflect(conn)
            assert set(tables.tables) - {"alembic_version"} == set(BASELINE_ROWS), "a baseline table has no rows"
            for name in ("users", "articles", "article_versions", "article_drafts", "audit_log", "suggest_log",
                         "call_records", "feedback", "training_questions", "training_quizzes",
                         "training_quiz_items", "training_assignments", "training_attempts", "training_answers"):
                conn.execute(insert(tables.tables[name]), BASELINE_ROWS[name])
            conn.execute(text("UPDATE articles SET current_version_id = 1"))
    finally:
        engine.dispose()


def _rows(url) -> dict:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            tables = MetaData()
            tables.reflect(conn)
            return {name: [dict(row._mapping) for row in conn.execute(select(table).order_by(*table.primary_key))]
                    for name, table in tables.tables.items() if name != "alembic_version"}
    finally:
        engine.dispose()


def test_every_row_at_the_baseline_survives_the_upgrade_to_head(empty_db_url):
    _fill_baseline(empty_db_url)
    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == migrate.head()
    after = _rows(empty_db_url)
    for name, rows in BASELINE_ROWS.items():
        assert len(after[name]) == len(rows), name
        for before, now in zip(rows, after[name]):
            expected = dict(before, current_version_id=1) if name == "articles" else before
            assert {k: now[k] for k in expected} == expected, name
    # the new columns are filled: the uploaded client id, a generated one for the duplicate and the one without
    assert [r["client_id"] for r in after["call_records"]] == ["call-1", "legacy-2", "legacy-3"]
    assert [r["open_key"] for r in after["feedback"]] == [None]
    engine = _engine(empty_db_url)
    try:
        with pytest.raises(IntegrityError), engine.begin() as conn:  # and the constraint now holds
            conn.execute(text("INSERT INTO call_records (agent, client_id, started_at, ended_at, duration_seconds, "
                              "wait_seconds, data) VALUES ('agent1', 'call-1', :t, :t, 1, 0, '{}')"), {"t": T0})
    finally:
        engine.dispose()


def test_a_database_made_before_migrations_is_recognised_and_upgraded(empty_db_url):
    """``create_all()`` made the tables without an alembic_version table (and, on SQLite, without constraint
    names): the upgrade recognises the revision, names the constraints, migrates and keeps every row."""
    if empty_db_url.startswith("sqlite"):  # the real thing: the schema 94db797's create_all() made
        path = empty_db_url.removeprefix("sqlite:///")
        connection = sqlite3.connect(path)
        connection.executescript((Path(__file__).parent / "data" / "legacy-94db797.sql").read_text())
        connection.close()
    else:  # no PostgreSQL database predates migrations; this covers the recognition alone
        migrate.upgrade(empty_db_url, migrate.BASELINE)
        engine = _engine(empty_db_url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
        engine.dispose()
    _insert_baseline_rows(empty_db_url)
    assert migrate.current(empty_db_url) is None
    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == migrate.head()
    after = _rows(empty_db_url)
    assert {name: len(rows) for name, rows in BASELINE_ROWS.items()} == \
        {name: len(after[name]) for name in BASELINE_ROWS}
    engine = _engine(empty_db_url)
    try:
        with engine.connect() as conn:
            assert migrate.schema_differences(conn) == []
    finally:
        engine.dispose()


def test_the_models_and_the_migrations_agree(empty_db_url):
    """The check that fails the suite when a model changes without a revision (``python -m kb db revision``...)."""
    migrate.upgrade(empty_db_url)
    engine = _engine(empty_db_url)
    try:
        with engine.connect() as conn:
            assert migrate.schema_differences(conn) == []
    finally:
        engine.dispose()


def test_the_schema_check_sees_a_model_change_without_a_revision(empty_db_url):
    migrate.upgrade(empty_db_url)
    changed = MetaData(naming_convention=NAMING_CONVENTION)
    for table in migrate.metadata().tables.values():
        table.to_metadata(changed)
    changed.tables["users"].append_column(Column("nickname", String(40)))
    Table("shift_notes", changed, Column("id", String(10), primary_key=True))
    engine = _engine(empty_db_url)
    try:
        with engine.connect() as conn:
            found = migrate.schema_differences(conn, changed)
    finally:
        engine.dispose()
    kinds = {(d[0], getattr(d[-1], "name", None)) for d in found if isinstance(d, tuple)}
    assert ("add_column", "nickname") in kinds and ("add_table", "shift_notes") in kinds, found


def test_upgrade_is_idempotent_and_keeps_the_schema(empty_db_url):
    migrate.upgrade(empty_db_url)
    engine = _engine(empty_db_url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    migrate.upgrade(empty_db_url)
    assert set(migrate.metadata().tables) | {"alembic_version"} == tables


def test_db_command_line(empty_db_url, tmp_path):
    env = dict(os.environ, KB_DATA_DIR=str(tmp_path / "data"), KB_DATABASE_URL=empty_db_url)

    def kb_db(*args):
        return subprocess.run([sys.executable, "-m", "kb", "db", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    assert kb_db("current").returncode == 1  # empty: not at head
    assert kb_db("upgrade", migrate.BASELINE).returncode == 0
    assert kb_db("current").stdout.strip() == migrate.BASELINE
    upgraded = kb_db("upgrade")
    assert upgraded.returncode == 0 and migrate.head() in upgraded.stderr
    current = kb_db("current")
    assert current.returncode == 0 and current.stdout.strip() == migrate.head()
    history = kb_db("history").stdout.splitlines()
    assert history[0].split()[0] == migrate.head() and history[-1].split()[0] == migrate.BASELINE
