"""Schema migrations with Alembic: the one way a database gets or changes its tables, on SQLite and PostgreSQL.

``upgrade`` is safe to call from every process at start-up: on PostgreSQL it holds an advisory lock and runs all
revisions in one transaction (DDL is transactional there); on SQLite it holds the write lock (``BEGIN IMMEDIATE``)
for the whole upgrade, so a crash or a second process never sees a half-migrated schema. A database made by the
old ``create_all()`` (no ``alembic_version`` table) is recognised and stamped with the revision it matches first.
"""
from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine

SCRIPTS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
LOCK_ID = 0x6B62_6D69  # "kbmi": the advisory lock every migrating PostgreSQL session takes


def metadata() -> MetaData:
    """Every table the code knows (the training package registers its tables on import)."""
    import kb.training  # noqa: F401
    from kb.models import Base
    return Base.metadata


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic settings from code, not alembic.ini: the database comes from the app's settings or ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def migration_engine(url: str) -> Engine:
    """An engine whose transactions cover DDL too (SQLite: BEGIN IMMEDIATE, no foreign-key pragma while tables are
    rebuilt by batch mode)."""
    from .config import driver_url
    url = driver_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, poolclass=_null_pool())
    timeout = float(os.environ.get("KB_DB_BUSY_TIMEOUT", "15"))
    engine = create_engine(url, connect_args={"timeout": timeout}, poolclass=_null_pool())

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        dbapi_conn.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _null_pool():
    from sqlalchemy.pool import NullPool
    return NullPool


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest), atomically."""
    engine = migration_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
            config = alembic_config(connection)
            legacy = _legacy_revision(connection)
            if legacy:
                _name_legacy_constraints(connection)
                command.stamp(config, legacy)
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _legacy_revision(connection: Connection) -> str | None:
    """The revision a database made by ``create_all()`` before migrations existed is at, or None."""
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" in tables or "articles" not in tables:
        return None
    columns = {c["name"] for c in inspect(connection).get_columns("call_records")}
    return "0002" if "client_id" in columns else BASELINE


def _name_legacy_constraints(connection: Connection) -> None:
    """``create_all()`` without a naming convention left SQLite's unique constraints unnamed, and a later revision
    could not drop or change them by name: rebuild each table once with the convention's names (rows kept)."""
    if connection.dialect.name != "sqlite":
        return
    from alembic.operations import Operations

    from kb.models import NAMING_CONVENTION
    operations = Operations(MigrationContext.configure(connection))
    for table in inspect(connection).get_table_names():
        if table in metadata().tables:
            with operations.batch_alter_table(table, recreate="always", naming_convention=NAMING_CONVENTION):
                pass


def current(url: str) -> str | None:
    engine = migration_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def history() -> list[str]:
    """One line per revision, newest first: ``id  (down: parent)  message``."""
    script = ScriptDirectory.from_config(alembic_config())
    return [f"{rev.revision}  (down: {rev.down_revision or '-'})  {rev.doc}" for rev in script.walk_revisions()]


def schema_differences(connection: Connection, target: MetaData | None = None) -> list:
    """What differs between the live schema and the models: empty when every model change has a revision."""
    context = MigrationContext.configure(connection, opts={"compare_type": True, "render_as_batch": True})
    diffs = compare_metadata(context, target if target is not None else metadata())
    return [d for d in diffs if not _is_alembic_table(d)]


def _is_alembic_table(diff) -> bool:
    item = diff[0] if isinstance(diff, list) else diff
    return len(item) > 1 and getattr(item[1], "name", None) == "alembic_version"
