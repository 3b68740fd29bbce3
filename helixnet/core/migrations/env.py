"""Alembic environment, run programmatically by ``helixnet.core.migrate``."""

from __future__ import annotations

from alembic import context

from helixnet.core.migrate import include_object
from helixnet.core.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("helixnet migrations run through helixnet.core.migrate, with a connection")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
