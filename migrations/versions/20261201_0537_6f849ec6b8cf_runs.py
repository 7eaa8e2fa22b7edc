"""runs

Revision ID: 6f849ec6b8cf
Revises: 00a9975276e9
Create Date: 2026-12-01 05:37:48.771546
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base
from sqlalchemy.dialects import mysql

revision: str = '6f849ec6b8cf'
down_revision: str | None = '00a9975276e9'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scenario_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scenario_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('executor', sa.String(length=16), nullable=False),
    sa.Column('environment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('ci', sa.JSON(), nullable=False),
    sa.Column('callback_url', sa.String(length=2048), nullable=True),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('dataset_ids', sa.JSON(), nullable=True),
    sa.Column('only_iterations', sa.JSON(), nullable=True),
    sa.Column('rerun_of_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('iterations_total', sa.Integer(), nullable=True),
    sa.Column('iterations_passed', sa.Integer(), nullable=False),
    sa.Column('iterations_failed', sa.Integer(), nullable=False),
    sa.Column('iterations_error', sa.Integer(), nullable=False),
    sa.Column('iterations_flaky', sa.Integer(), nullable=False),
    sa.Column('requests_passed', sa.Integer(), nullable=False),
    sa.Column('requests_failed', sa.Integer(), nullable=False),
    sa.Column('requests_error', sa.Integer(), nullable=False),
    sa.Column('requests_skipped', sa.Integer(), nullable=False),
    sa.Column('requests_flaky', sa.Integer(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(), nullable=False),
    sa.Column('started_at', app.models.base.UTCDateTime(), nullable=True),
    sa.Column('finished_at', app.models.base.UTCDateTime(), nullable=True),
    sa.Column('heartbeat_at', app.models.base.UTCDateTime(), nullable=True),
    sa.Column('owner', sa.String(length=200), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['api_requests.id'], name=op.f('fk_scenario_runs_case_id_api_requests'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_scenario_runs_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['environment_id'], ['environments.id'], name=op.f('fk_scenario_runs_environment_id_environments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_scenario_runs_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rerun_of_id'], ['scenario_runs.id'], name=op.f('fk_scenario_runs_rerun_of_id_scenario_runs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scenario_id'], ['test_scenarios.id'], name=op.f('fk_scenario_runs_scenario_id_test_scenarios'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenario_runs'))
    )
    with op.batch_alter_table('scenario_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scenario_runs_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scenario_runs_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_scenario_runs_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scenario_runs_scenario_id'), ['scenario_id'], unique=False)
        batch_op.create_index('ix_scenario_runs_status_heartbeat_at', ['status', 'heartbeat_at'], unique=False)

    op.create_table('api_request_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scenario_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('step_id', sa.BigInteger(), nullable=True),
    sa.Column('dataset_id', sa.BigInteger(), nullable=True),
    sa.Column('step_key', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('iteration', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('iteration_attempt', sa.Integer(), nullable=False),
    sa.Column('is_final', sa.Boolean(), nullable=False),
    sa.Column('flaky', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', app.models.base.UTCDateTime(), nullable=False),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.Column('request', sa.JSON(), nullable=True),
    sa.Column('dataset', sa.JSON(), nullable=True),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=True),
    sa.Column('assertions', sa.JSON(), nullable=False),
    sa.Column('extracted', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['api_requests.id'], name=op.f('fk_api_request_runs_case_id_api_requests'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scenario_run_id'], ['scenario_runs.id'], name=op.f('fk_api_request_runs_scenario_run_id_scenario_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_request_runs'))
    )
    with op.batch_alter_table('api_request_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_request_runs_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_api_request_runs_scenario_run_id_iteration', ['scenario_run_id', 'iteration'], unique=False)
        batch_op.create_index('ix_api_request_runs_scenario_run_id_status', ['scenario_run_id', 'status'], unique=False)



def downgrade() -> None:
    # Dropping a table drops its indexes; dropping an index first fails on MySQL while a foreign key needs it.
    op.drop_table('api_request_runs')
    op.drop_table('scenario_runs')
