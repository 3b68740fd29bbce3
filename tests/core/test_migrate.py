"""The shipped migrations build exactly the schema the models describe, both ways, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from helixnet.core.migrate import current_revision, downgrade, include_object, upgrade
from helixnet.core.models import Base
from helixnet.queue.postgres import is_queue_table


def test_migrations_match_models_and_round_trip(make_hx, database):
    hx = make_hx(database, start=False)
    engine = hx.db.engine
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert current_revision(engine) == "0004"
    upgrade(engine)  # a no-op when current
    downgrade(engine, "base")
    # What is left is Alembic's own table and, where a test used the PostgreSQL queue, its tables.
    assert {t for t in inspect(engine).get_table_names() if not is_queue_table(t)} <= {"alembic_version"}
    upgrade(engine)
    assert {"users", "jobs", "artifacts", "job_events", "leases", "login_failures"} <= set(inspect(engine).get_table_names())
