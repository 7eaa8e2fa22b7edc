"""reports: roll-ups, cluster labels, retention, report indexes

Revision ID: 17ad8a0f6416
Revises: 5b26a11ef6fd
Create Date: 2026-12-04 09:06:03.940004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "17ad8a0f6416"
down_revision: str | None = "5b26a11ef6fd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "failure_cluster_labels",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("cluster_key", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("ticket_url", sa.String(length=2048), nullable=True),
        sa.Column("updated_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("updated_at", app.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_failure_cluster_labels_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_failure_cluster_labels_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failure_cluster_labels")),
        sa.UniqueConstraint("project_id", "cluster_key", name="uq_failure_cluster_labels_key"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "report_rollup_durations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("bucket_start", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("scenario_key", sa.BigInteger(), nullable=False),
        sa.Column("case_key", sa.BigInteger(), nullable=False),
        sa.Column("environment_key", sa.BigInteger(), nullable=False),
        sa.Column("bin", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_report_rollup_durations_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_rollup_durations")),
        sa.UniqueConstraint(
            "project_id",
            "granularity",
            "scope",
            "bucket_start",
            "scenario_key",
            "case_key",
            "environment_key",
            "bin",
            name="uq_report_rollup_durations_key",
        ),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "report_rollups",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("granularity", sa.String(length=8), nullable=False),
        sa.Column("bucket_start", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("scenario_key", sa.BigInteger(), nullable=False),
        sa.Column("case_key", sa.BigInteger(), nullable=False),
        sa.Column("environment_key", sa.BigInteger(), nullable=False),
        sa.Column("runs_passed", sa.Integer(), nullable=False),
        sa.Column("runs_failed", sa.Integer(), nullable=False),
        sa.Column("runs_error", sa.Integer(), nullable=False),
        sa.Column("runs_cancelled", sa.Integer(), nullable=False),
        sa.Column("runs_interrupted", sa.Integer(), nullable=False),
        sa.Column("requests_passed", sa.Integer(), nullable=False),
        sa.Column("requests_failed", sa.Integer(), nullable=False),
        sa.Column("requests_error", sa.Integer(), nullable=False),
        sa.Column("requests_skipped", sa.Integer(), nullable=False),
        sa.Column("requests_flaky", sa.Integer(), nullable=False),
        sa.Column("flips", sa.Integer(), nullable=False),
        sa.Column("compared", sa.Integer(), nullable=False),
        sa.Column("duration_sum_us", sa.BigInteger(), nullable=False),
        sa.Column("duration_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_report_rollups_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_rollups")),
        sa.UniqueConstraint(
            "project_id",
            "granularity",
            "scope",
            "bucket_start",
            "scenario_key",
            "case_key",
            "environment_key",
            name="uq_report_rollups_key",
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("api_request_runs", schema=None) as batch_op:
        # The new index first: MySQL keeps an index on a foreign key's column and refuses to drop its last one.
        batch_op.create_index("ix_api_request_runs_case_id_id", ["case_id", "id", "scenario_run_id"], unique=False)
        batch_op.drop_index(batch_op.f("ix_api_request_runs_case_id"))
        batch_op.create_index(
            "ix_api_request_runs_run_step", ["scenario_run_id", "step_key", "iteration", "id"], unique=False
        )

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_body_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("retention_row_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("bodies_pruned_before", app.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("rows_pruned_before", app.models.base.UTCDateTime(), nullable=True))

    with op.batch_alter_table("scenario_runs", schema=None) as batch_op:
        # Runs that ended before this revision are not in the roll-ups until `exile reports rebuild`.
        batch_op.add_column(sa.Column("rolled_up", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index("ix_scenario_runs_project_id_created_at", ["project_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_scenario_runs_scenario_env_finished",
            ["scenario_id", "environment_id", "status", "finished_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("scenario_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_scenario_runs_scenario_env_finished")
        batch_op.drop_index("ix_scenario_runs_project_id_created_at")
        batch_op.drop_column("rolled_up")

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("rows_pruned_before")
        batch_op.drop_column("bodies_pruned_before")
        batch_op.drop_column("retention_row_days")
        batch_op.drop_column("retention_body_days")

    with op.batch_alter_table("api_request_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_api_request_runs_run_step")
        batch_op.create_index(batch_op.f("ix_api_request_runs_case_id"), ["case_id"], unique=False)
        batch_op.drop_index("ix_api_request_runs_case_id_id")

    op.drop_table("report_rollups")
    op.drop_table("report_rollup_durations")
    op.drop_table("failure_cluster_labels")
