"""identity hardening: ids never reused (SQLite AUTOINCREMENT)

Revision ID: b7e1a9c2d4f0
Revises: 6f849ec6b8cf
Create Date: 2026-12-01 15:00:00
"""
from collections.abc import Sequence

revision: str = 'b7e1a9c2d4f0'
down_revision: str | None = '6f849ec6b8cf'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
