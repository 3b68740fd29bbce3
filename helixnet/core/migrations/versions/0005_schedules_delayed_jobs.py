"""schedules, and on jobs: run_at (delayed jobs), schedule_id and fire_time (unique together)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_OFF_QUEUE = "status = 'PENDING' AND queued_at IS NULL"
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('schedules',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=False),
    sa.Column('plugin', sa.String(length=100), nullable=False),
    sa.Column('params', _JSON, nullable=False),
    sa.Column('inputs', _JSON, nullable=False),
    sa.Column('cron', sa.String(length=200), nullable=True),
    sa.Column('interval_seconds', sa.Integer(), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('catchup_seconds', sa.Integer(), nullable=False),
    sa.Column('overlap', sa.String(length=8), nullable=False),
    sa.Column('next_fire_at', sa.DateTime(), nullable=True),
    sa.Column('last_fire_at', sa.DateTime(), nullable=True),
    sa.Column('last_job_id', sa.String(length=36), nullable=True),
    sa.Column('missed_count', sa.Integer(), nullable=False),
    sa.Column('last_missed_at', sa.DateTime(), nullable=True),
    sa.Column('skipped_count', sa.Integer(), nullable=False),
    sa.Column('last_skipped_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_schedules_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedules'))
    )
    op.create_index('ix_schedules_next_fire', 'schedules', ['next_fire_at'], unique=False)
    op.create_index('ix_schedules_owner_created', 'schedules', ['owner_id', 'created_at', 'id'], unique=False)
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('run_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('schedule_id', sa.String(length=36), nullable=True))
        batch.add_column(sa.Column('fire_time', sa.DateTime(), nullable=True))
        batch.create_foreign_key(op.f('fk_jobs_schedule_id_schedules'), 'schedules', ['schedule_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_unique_constraint(op.f('uq_jobs_schedule_id_fire_time'), ['schedule_id', 'fire_time'])
    op.create_index('ix_jobs_schedule_status', 'jobs', ['schedule_id', 'status'], unique=False)
    op.create_index('ix_jobs_off_queue', 'jobs', ['scheduled_at'], unique=False,
                    postgresql_where=sa.text(_OFF_QUEUE), sqlite_where=sa.text(_OFF_QUEUE))


def downgrade() -> None:
    op.drop_index('ix_jobs_off_queue', table_name='jobs',
                  postgresql_where=sa.text(_OFF_QUEUE), sqlite_where=sa.text(_OFF_QUEUE))
    op.drop_index('ix_jobs_schedule_status', table_name='jobs')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_constraint(op.f('uq_jobs_schedule_id_fire_time'), type_='unique')
        batch.drop_constraint(op.f('fk_jobs_schedule_id_schedules'), type_='foreignkey')
        batch.drop_column('fire_time')
        batch.drop_column('schedule_id')
        batch.drop_column('run_at')
    op.drop_index('ix_schedules_owner_created', table_name='schedules')
    op.drop_index('ix_schedules_next_fire', table_name='schedules')
    op.drop_table('schedules')
