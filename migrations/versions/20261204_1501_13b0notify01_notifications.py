"""notification channels, rules and deliveries

Revision ID: 13b0notify01
Revises: 13a0plans001
Create Date: 2026-12-04 15:01:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import app.models.base

revision: str = "13b0notify01"
down_revision: str | None = "13a0plans001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mariadb").with_variant(mysql.LONGTEXT(), "mysql")
EXACT_NAME = sa.String(length=200).with_variant(mysql.VARCHAR(length=200, collation="utf8mb4_bin"), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "notification_channels",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("project_id", BIG_ID, nullable=False),
        sa.Column("name", EXACT_NAME, nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("sealed", sa.JSON(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("scenario_ids", sa.JSON(), nullable=True),
        sa.Column("plan_ids", sa.JSON(), nullable=True),
        sa.Column("throttle_max", sa.Integer(), nullable=False),
        sa.Column("throttle_window_seconds", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_notification_channels_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_channels")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_notification_channels_project_id_name")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("notification_channels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_channels_project_id"), ["project_id"], unique=False)

    op.create_table(
        "notification_deliveries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("channel_id", BIG_ID, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=True),
        sa.Column("dedupe_key", sa.String(length=128), nullable=True),
        sa.Column("run_id", BIG_ID, nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("message", LONG_TEXT, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("claimed_until", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("attempt_log", sa.JSON(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", app.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["notification_channels.id"],
            name=op.f("fk_notification_deliveries_channel_id_notification_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["scenario_runs.id"],
            name=op.f("fk_notification_deliveries_run_id_scenario_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint("channel_id", "dedupe_key", name=op.f("uq_notification_deliveries_channel_id_dedupe_key")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("notification_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_deliveries_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_notification_deliveries_channel_subject_created",
            ["channel_id", "subject_key", "created_at"],
            unique=False,
        )
        batch_op.create_index("ix_notification_deliveries_channel_id_id", ["channel_id", "id"], unique=False)


def downgrade() -> None:
    # Whole tables: their indexes go with them (MariaDB will not drop an index a foreign key still uses).
    op.drop_table("notification_deliveries")
    op.drop_table("notification_channels")
