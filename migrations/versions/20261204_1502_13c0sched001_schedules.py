"""schedules and code-host triggers

Revision ID: 13c0sched001
Revises: 13b0notify01
Create Date: 2026-12-04 15:02:00
"""

from collections.abc import Sequence

revision: str = "13c0sched001"
down_revision: str | None = "13b0notify01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
