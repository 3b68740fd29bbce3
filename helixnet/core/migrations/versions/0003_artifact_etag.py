"""artifacts: etag recorded at completion, index of those awaiting their sha256

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_UNDIGESTED = "sha256 IS NULL AND status = 'AVAILABLE'"


def upgrade() -> None:
    with op.batch_alter_table('artifacts') as batch:
        batch.add_column(sa.Column('etag', sa.String(length=200), nullable=True))
    op.create_index('ix_artifacts_undigested', 'artifacts', ['created_at'], unique=False,
                    postgresql_where=sa.text(_UNDIGESTED), sqlite_where=sa.text(_UNDIGESTED))


def downgrade() -> None:
    op.drop_index('ix_artifacts_undigested', table_name='artifacts',
                  postgresql_where=sa.text(_UNDIGESTED), sqlite_where=sa.text(_UNDIGESTED))
    with op.batch_alter_table('artifacts') as batch:
        batch.drop_column('etag')
