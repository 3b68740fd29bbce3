"""login failures shared by every process

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_failures',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_failures'))
    )
    op.create_index(op.f('ix_login_failures_window_start'), 'login_failures', ['window_start'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_login_failures_window_start'), table_name='login_failures')
    op.drop_table('login_failures')
