"""run hardening: records outlive what they ran

Revision ID: c3d5e7f9a1b2
Revises: b7e1a9c2d4f0
Create Date: 2026-12-01 15:01:00
"""
from collections.abc import Sequence

revision: str = 'c3d5e7f9a1b2'
down_revision: str | None = 'b7e1a9c2d4f0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
