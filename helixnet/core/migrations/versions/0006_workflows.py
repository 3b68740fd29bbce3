"""workflows: job dependencies, allow_failed_parents and inputs taken from parents' outputs

Revision ID: 0006
Revises: 0004 (the lead re-points it to 0005, the schedules revision, at merge)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("allow_failed_parents", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch.add_column(sa.Column("input_refs", json_type, nullable=True))
    op.create_table(
        "job_dependencies",
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"], ["jobs.id"], name=op.f("fk_job_dependencies_child_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["jobs.id"], name=op.f("fk_job_dependencies_parent_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("child_id", "parent_id", name=op.f("pk_job_dependencies")),
    )
    op.create_index("ix_job_dependencies_parent", "job_dependencies", ["parent_id", "child_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_job_dependencies_parent", table_name="job_dependencies")
    op.drop_table("job_dependencies")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("input_refs")
        batch.drop_column("allow_failed_parents")
