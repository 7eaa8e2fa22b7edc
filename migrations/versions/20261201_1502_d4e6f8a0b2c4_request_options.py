"""request options: follow_redirects per case

Revision ID: d4e6f8a0b2c4
Revises: c3d5e7f9a1b2
Create Date: 2026-12-01 15:02:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'd4e6f8a0b2c4'
down_revision: str | None = 'c3d5e7f9a1b2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing cases keep today's behaviour: redirects are followed.
    with op.batch_alter_table('api_requests', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('follow_redirects', sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table('api_requests', schema=None) as batch_op:
        batch_op.drop_column('follow_redirects')
