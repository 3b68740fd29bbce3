"""Schema migrations shipped inside the package (Alembic), run by ``hx.start()`` and ``helixnet db upgrade``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from helixnet.queue.postgres import is_queue_table

MIGRATIONS = Path(__file__).with_name("migrations")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Leave the PostgreSQL queue's tables (``helixnet_queue_*``, huey's own DDL) out of schema comparisons.

    A deployment on PostgreSQL alone keeps its queue in the same database; those tables are not
    the models', and autogenerate must not offer to drop them.
    """
    table = obj.table.name if type_ in ("index", "column", "unique_constraint", "foreign_key_constraint") else name
    return not (reflected and compare_to is None and is_queue_table(str(table)))


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call on every start (a no-op when current)."""
    config = alembic_config(engine)
    # Several processes may start at once on a fresh database: serialise them on a write lock
    # (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL); the later ones find it current.
    with engine.execution_options(helixnet_write=True).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(72616)")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
