"""The shipped migrations build exactly the schema the models describe, both ways, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from helixnet.core.migrate import alembic_config, current_revision, downgrade, include_object, upgrade
from helixnet.core.models import Base
from helixnet.queue.postgres import is_queue_table


def test_migrations_match_models_and_round_trip(make_hx, database):
    hx = make_hx(database, start=False)
    engine = hx.db.engine
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert current_revision(engine) == "0006"
    upgrade(engine)  # a no-op when current
    downgrade(engine, "base")
    # What is left is Alembic's own table and, where a test used the PostgreSQL queue, its tables.
    assert {t for t in inspect(engine).get_table_names() if not is_queue_table(t)} <= {"alembic_version"}
    upgrade(engine)
    assert {"users", "jobs", "artifacts", "job_events", "leases", "login_failures"} <= set(inspect(engine).get_table_names())



def test_processes_starting_at_once_on_an_empty_postgres_migrate_once(empty_postgres_url, tmp_path):
    """Issue 11: several API processes behind one balancer start together; one migrates, the rest wait."""
    env = {**os.environ, "HELIXNET_DATABASE_URL": empty_postgres_url, "HELIXNET_DATA_DIR": str(tmp_path / "data")}
    procs = [
        subprocess.Popen([sys.executable, "-m", "helixnet", "db", "upgrade"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    # Without the lock the losers fail on CREATE TABLE of a table the winner has just made.
    assert [p.returncode for p in procs] == [0] * 3, outputs
    engine = create_engine(empty_postgres_url)
    try:
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
    finally:
        engine.dispose()
