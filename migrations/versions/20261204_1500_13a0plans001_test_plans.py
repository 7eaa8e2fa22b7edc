"""test plans and plan runs

Revision ID: 13a0plans001
Revises: 869ee7e8bdd6
Create Date: 2026-12-04 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import app.models.base

revision: str = "13a0plans001"
down_revision: str | None = "869ee7e8bdd6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mariadb").with_variant(mysql.LONGTEXT(), "mysql")


def upgrade() -> None:
    op.create_table(
        "test_plans",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("project_id", BIG_ID, nullable=False),
        sa.Column("owner_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", LONG_TEXT, nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("environment_id", BIG_ID, nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("stop_rules", sa.JSON(), nullable=False),
        sa.Column("pass_criteria", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_test_plans_environment_id_environments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_test_plans_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_test_plans_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_plans")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("test_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_test_plans_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_test_plans_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_test_plans_status"), ["status"], unique=False)

    op.create_table(
        "plan_runs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("plan_id", BIG_ID, nullable=True),
        sa.Column("project_id", BIG_ID, nullable=False),
        sa.Column("plan_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.JSON(), nullable=False),
        sa.Column("environment_id", BIG_ID, nullable=True),
        sa.Column("created_by_id", BIG_ID, nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("callback_url", sa.String(length=2048), nullable=True),
        sa.Column("callback_delivery_id", sa.BigInteger(), nullable=True),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("stop_rules", sa.JSON(), nullable=False),
        sa.Column("pass_criteria", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("scenarios_total", sa.Integer(), nullable=False),
        sa.Column("scenarios_passed", sa.Integer(), nullable=False),
        sa.Column("scenarios_failed", sa.Integer(), nullable=False),
        sa.Column("scenarios_error", sa.Integer(), nullable=False),
        sa.Column("scenarios_cancelled", sa.Integer(), nullable=False),
        sa.Column("scenarios_skipped", sa.Integer(), nullable=False),
        sa.Column("iterations_passed", sa.Integer(), nullable=False),
        sa.Column("iterations_failed", sa.Integer(), nullable=False),
        sa.Column("iterations_error", sa.Integer(), nullable=False),
        sa.Column("iterations_flaky", sa.Integer(), nullable=False),
        sa.Column("requests_passed", sa.Integer(), nullable=False),
        sa.Column("requests_failed", sa.Integer(), nullable=False),
        sa.Column("requests_error", sa.Integer(), nullable=False),
        sa.Column("requests_skipped", sa.Integer(), nullable=False),
        sa.Column("requests_flaky", sa.Integer(), nullable=False),
        sa.Column("pass_rate", sa.Double(), nullable=True),
        sa.Column("stopped", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("error", LONG_TEXT, nullable=True),
        sa.Column("created_at", app.models.base.UTCDateTime(), nullable=False),
        sa.Column("started_at", app.models.base.UTCDateTime(), nullable=True),
        sa.Column("finished_at", app.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_plan_runs_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_plan_runs_environment_id_environments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["test_plans.id"], name=op.f("fk_plan_runs_plan_id_test_plans"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_plan_runs_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_runs")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("plan_runs", schema=None) as batch_op:
        batch_op.create_index("ix_plan_runs_plan_id_id", ["plan_id", "id"], unique=False)
        batch_op.create_index("ix_plan_runs_project_id_created_at", ["project_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_runs_status"), ["status"], unique=False)

    # A scenario run started by a plan run points at it; deleting the plan run keeps the scenario run.
    with op.batch_alter_table("scenario_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_run_id", BIG_ID, nullable=True))
        batch_op.create_index(batch_op.f("ix_scenario_runs_plan_run_id"), ["plan_run_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_scenario_runs_plan_run_id_plan_runs"),
            "plan_runs",
            ["plan_run_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("scenario_runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_scenario_runs_plan_run_id_plan_runs"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_scenario_runs_plan_run_id"))
        batch_op.drop_column("plan_run_id")

    op.drop_table("plan_runs")  # its indexes go with it
    op.drop_table("test_plans")
