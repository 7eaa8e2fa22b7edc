"""run hardening: records outlive what they ran

Revision ID: c3d5e7f9a1b2
Revises: b7e1a9c2d4f0
Create Date: 2026-12-01 15:01:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime

revision: str = 'c3d5e7f9a1b2'
down_revision: str | None = 'b7e1a9c2d4f0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('scenario_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('redispatched_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scenario_runs', schema=None) as batch_op:
        batch_op.drop_column('redispatched_at')
