"""notification channels, rules and deliveries

Revision ID: 13b0notify01
Revises: 13a0plans001
Create Date: 2026-12-04 15:01:00
"""

from collections.abc import Sequence

revision: str = "13b0notify01"
down_revision: str | None = "13a0plans001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
