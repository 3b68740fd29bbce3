"""The shipped migrations build exactly the schema the models describe, both ways, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from helixnet.core.migrate import alembic_config, current_revision, downgrade, upgrade
from helixnet.core.models import Base


def test_migrations_match_models_and_round_trip(make_hx, database):
    hx = make_hx(database, start=False)
    engine = hx.db.engine
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    # The newest revision (0003 on this branch; the chain is re-linked when parallel branches merge).
    assert current_revision(engine) == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    upgrade(engine)  # a no-op when current
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert {"users", "jobs", "artifacts", "job_events", "leases"} <= set(inspect(engine).get_table_names())
