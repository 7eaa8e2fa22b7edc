"""test plans and plan runs

Revision ID: 13a0plans001
Revises: 869ee7e8bdd6
Create Date: 2026-12-04 15:00:00
"""

from collections.abc import Sequence

revision: str = "13a0plans001"
down_revision: str | None = "869ee7e8bdd6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
