"""schedules and code-host triggers

Revision ID: 13c0sched001
Revises: 13b0notify01
Create Date: 2026-12-04 15:02:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "13c0sched001"
down_revision: str | None = "13b0notify01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "code_host_triggers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("branches", sa.JSON(), nullable=False),
        sa.Column("scenario_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("environment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_prefix", sa.String(length=16), nullable=False),
        sa.Column("sealed_secret", sa.String(length=512), nullable=False),
        sa.Column("status_url", sa.String(length=2048), nullable=True),
        sa.Column("sealed_status_token", sa.String(length=2048), nullable=True),
        sa.Column("last_delivery_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("last_outcome", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_code_host_triggers_environment_id_environments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_code_host_triggers_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["test_plans.id"], name=op.f("fk_code_host_triggers_plan_id_test_plans"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_code_host_triggers_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["test_scenarios.id"],
            name=op.f("fk_code_host_triggers_scenario_id_test_scenarios"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_host_triggers")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_code_host_triggers_token_hash")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("code_host_triggers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_code_host_triggers_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_code_host_triggers_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_code_host_triggers_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_code_host_triggers_scenario_id"), ["scenario_id"], unique=False)

    op.create_table(
        "schedules",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("owner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scenario_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("cron", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("environment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("allow_overlap", sa.Boolean(), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("next_fire_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_schedules_environment_id_environments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_schedules_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["test_plans.id"], name=op.f("fk_schedules_plan_id_test_plans"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_schedules_project_id_projects"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["test_scenarios.id"],
            name=op.f("fk_schedules_scenario_id_test_scenarios"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index("ix_schedules_enabled_next_fire_at", ["enabled", "next_fire_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedules_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedules_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedules_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedules_scenario_id"), ["scenario_id"], unique=False)

    op.create_table(
        "commit_status_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("trigger_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("plan_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("sent_status", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("claimed_until", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", app.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["plan_run_id"],
            ["plan_runs.id"],
            name=op.f("fk_commit_status_deliveries_plan_run_id_plan_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["scenario_runs.id"],
            name=op.f("fk_commit_status_deliveries_run_id_scenario_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["code_host_triggers.id"],
            name=op.f("fk_commit_status_deliveries_trigger_id_code_host_triggers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commit_status_deliveries")),
        sa.UniqueConstraint("plan_run_id", name=op.f("uq_commit_status_deliveries_plan_run_id")),
        sa.UniqueConstraint("run_id", name=op.f("uq_commit_status_deliveries_run_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("commit_status_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_commit_status_deliveries_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_commit_status_deliveries_trigger_id"), ["trigger_id"], unique=False)

    op.create_table(
        "schedule_fires",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("schedule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tick_at", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("plan_run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("detail", sa.String(length=1000), nullable=True),
        sa.Column("recorded_at", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_run_id"], ["plan_runs.id"], name=op.f("fk_schedule_fires_plan_run_id_plan_runs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["scenario_runs.id"], name=op.f("fk_schedule_fires_run_id_scenario_runs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name=op.f("fk_schedule_fires_schedule_id_schedules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_fires")),
        sa.UniqueConstraint("schedule_id", "tick_at", name=op.f("uq_schedule_fires_schedule_id_tick_at")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("schedule_fires", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_fires_plan_run_id"), ["plan_run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedule_fires_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    # Whole tables: their indexes and constraints go with them (MariaDB refuses to drop an index a key needs).
    op.drop_table("commit_status_deliveries")
    op.drop_table("code_host_triggers")
    op.drop_table("schedule_fires")
    op.drop_table("schedules")
