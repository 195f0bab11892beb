"""Alembic environment: the target is ``kb.models.Base.metadata``; the database is the connection ``kb.migrate``
passes in, or the app's settings (``KB_DATABASE_URL`` / ``KB_DATA_DIR``) when alembic is run by hand."""
from __future__ import annotations

from alembic import context

from kb.config import Settings
from kb.migrate import metadata, migration_engine

target_metadata = metadata()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = migration_engine(Settings.from_env().database_url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
