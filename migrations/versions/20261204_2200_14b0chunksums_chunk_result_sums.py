"""chunk result sums: what a chunk's sink summed for the report roll-ups, added up at the run's end

Revision ID: 14b0chunksums
Revises: 14a0imports01
Create Date: 2026-12-04 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "14b0chunksums"
down_revision: str | None = "14a0imports01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL (every chunk before this, or one that ended without them): its run's end reads the results instead.
    with op.batch_alter_table("scenario_run_chunks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("result_sums", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scenario_run_chunks", schema=None) as batch_op:
        batch_op.drop_column("result_sums")
