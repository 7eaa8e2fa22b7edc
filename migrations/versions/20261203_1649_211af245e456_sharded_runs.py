"""sharded runs: a run's rows split into chunks that processes and workers claim one by one

Revision ID: 211af245e456
Revises: d4e6f8a0b2c4
Create Date: 2026-12-03 16:49:37.993925
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import app.models.base

revision: str = "211af245e456"
down_revision: str | None = "d4e6f8a0b2c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scenario_run_chunks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("first_iteration", sa.Integer(), nullable=False),
        sa.Column("end_iteration", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("dispatched_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("redispatched_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("started_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("heartbeat_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("finished_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("iterations_passed", sa.Integer(), nullable=False),
        sa.Column("iterations_failed", sa.Integer(), nullable=False),
        sa.Column("iterations_error", sa.Integer(), nullable=False),
        sa.Column("iterations_flaky", sa.Integer(), nullable=False),
        sa.Column(
            "first_failure",
            sa.Text().with_variant(mysql.LONGTEXT(), "mariadb").with_variant(mysql.LONGTEXT(), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "error",
            sa.Text().with_variant(mysql.LONGTEXT(), "mariadb").with_variant(mysql.LONGTEXT(), "mysql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["scenario_runs.id"],
            name=op.f("fk_scenario_run_chunks_run_id_scenario_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenario_run_chunks")),
        sa.UniqueConstraint("run_id", "position", name=op.f("uq_scenario_run_chunks_run_id_position")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("scenario_run_chunks", schema=None) as batch_op:
        batch_op.create_index("ix_scenario_run_chunks_status_heartbeat_at", ["status", "heartbeat_at"], unique=False)

    with op.batch_alter_table("scenario_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chunks", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column(
                "setup_state",
                sa.Text().with_variant(mysql.LONGTEXT(), "mariadb").with_variant(mysql.LONGTEXT(), "mysql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("finisher", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scenario_runs", schema=None) as batch_op:
        batch_op.drop_column("finisher")
        batch_op.drop_column("setup_state")
        batch_op.drop_column("chunks")

    with op.batch_alter_table("scenario_run_chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_scenario_run_chunks_status_heartbeat_at")

    op.drop_table("scenario_run_chunks")
