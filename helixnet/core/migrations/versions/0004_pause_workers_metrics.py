"""paused plugins, the worker registry, metrics buckets and an index for status counts

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_jobs_status_owner', 'jobs', ['status', 'owner_id'], unique=False)
    op.create_table('paused_plugins',
    sa.Column('plugin', sa.String(length=100), nullable=False),
    sa.Column('paused_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('plugin', name=op.f('pk_paused_plugins'))
    )
    op.create_table('workers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('threads', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=False),
    sa.Column('stopped_at', sa.DateTime(), nullable=True),
    sa.Column('jobs_done', sa.Integer(), nullable=False),
    sa.Column('current_jobs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workers'))
    )
    op.create_index('ix_workers_heartbeat', 'workers', ['heartbeat_at'], unique=False)
    op.create_table('metric_buckets',
    sa.Column('minute', sa.DateTime(), nullable=False),
    sa.Column('plugin', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=36), nullable=False),
    sa.Column('succeeded', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('cancelled', sa.Integer(), nullable=False),
    sa.Column('duration_sum', sa.Float(), nullable=False),
    sa.Column('histogram', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('minute', 'plugin', 'source', name=op.f('pk_metric_buckets'))
    )


def downgrade() -> None:
    op.drop_table('metric_buckets')
    op.drop_index('ix_workers_heartbeat', table_name='workers')
    op.drop_table('workers')
    op.drop_table('paused_plugins')
    op.drop_index('ix_jobs_status_owner', table_name='jobs')
