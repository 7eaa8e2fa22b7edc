"""initial schema

Revision ID: 6519efbd8409
Revises: 
Create Date: 2026-12-01 05:15:23.973508
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models.base
from sqlalchemy.dialects import mysql

revision: str = '6519efbd8409'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('projects',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=False),
    sa.Column('owner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_projects_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects'))
    )
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_projects_owner_id'), ['owner_id'], unique=False)

    op.create_table('api_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('owner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('url', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('query', sa.JSON(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('auth', sa.JSON(), nullable=False),
    sa.Column('extractors', sa.JSON(), nullable=False),
    sa.Column('assertions', sa.JSON(), nullable=False),
    sa.Column('pre_processors', sa.JSON(), nullable=False),
    sa.Column('post_processors', sa.JSON(), nullable=False),
    sa.Column('poll', sa.JSON(), nullable=True),
    sa.Column('timeout_ms', sa.Integer(), nullable=False),
    sa.Column('retry', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('run_permission', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_api_requests_owner_id_users')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_api_requests_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_requests'))
    )
    with op.batch_alter_table('api_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_requests_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_requests_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_requests_status'), ['status'], unique=False)

    op.create_table('environments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200).with_variant(mysql.VARCHAR(length=200, collation='utf8mb4_bin'), 'mariadb').with_variant(mysql.VARCHAR(length=200, collation='utf8mb4_bin'), 'mysql'), nullable=False),
    sa.Column('base_url', sa.String(length=2048), nullable=False),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('secret_variables', sa.JSON(), nullable=False),
    sa.Column('verify_tls', sa.Boolean(), nullable=False),
    sa.Column('proxy', sa.String(length=2048), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_environments_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_environments')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_environments_project_id_name'))
    )
    with op.batch_alter_table('environments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_environments_project_id'), ['project_id'], unique=False)

    op.create_table('test_scenarios',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('project_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('owner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=False),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('setup', sa.JSON(), nullable=False),
    sa.Column('teardown', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_test_scenarios_owner_id_users')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_test_scenarios_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_test_scenarios'))
    )
    with op.batch_alter_table('test_scenarios', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_test_scenarios_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_test_scenarios_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_test_scenarios_status'), ['status'], unique=False)

    op.create_table('api_request_datasets',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', app.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['api_requests.id'], name=op.f('fk_api_request_datasets_case_id_api_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_request_datasets'))
    )
    with op.batch_alter_table('api_request_datasets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_request_datasets_case_id'), ['case_id'], unique=False)

    op.create_table('api_request_tags',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tag', sa.String(length=64).with_variant(mysql.VARCHAR(length=64, collation='utf8mb4_bin'), 'mariadb').with_variant(mysql.VARCHAR(length=64, collation='utf8mb4_bin'), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['api_requests.id'], name=op.f('fk_api_request_tags_case_id_api_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_request_tags')),
    sa.UniqueConstraint('case_id', 'tag', name=op.f('uq_api_request_tags_case_id_tag'))
    )
    with op.batch_alter_table('api_request_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_request_tags_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_request_tags_tag'), ['tag'], unique=False)

    op.create_table('test_scenario_cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scenario_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=200), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('skip_if', sa.Text(), nullable=True),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('dataset_mode', sa.String(length=16), nullable=False),
    sa.Column('dataset_ids', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['api_requests.id'], name=op.f('fk_test_scenario_cases_case_id_api_requests')),
    sa.ForeignKeyConstraint(['scenario_id'], ['test_scenarios.id'], name=op.f('fk_test_scenario_cases_scenario_id_test_scenarios'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_test_scenario_cases'))
    )
    with op.batch_alter_table('test_scenario_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_test_scenario_cases_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_test_scenario_cases_scenario_id'), ['scenario_id'], unique=False)

    op.create_table('test_scenario_datasets',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scenario_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('variables', sa.JSON(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['scenario_id'], ['test_scenarios.id'], name=op.f('fk_test_scenario_datasets_scenario_id_test_scenarios'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_test_scenario_datasets'))
    )
    with op.batch_alter_table('test_scenario_datasets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_test_scenario_datasets_scenario_id'), ['scenario_id'], unique=False)

    op.create_table('test_scenario_tags',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scenario_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tag', sa.String(length=64).with_variant(mysql.VARCHAR(length=64, collation='utf8mb4_bin'), 'mariadb').with_variant(mysql.VARCHAR(length=64, collation='utf8mb4_bin'), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['scenario_id'], ['test_scenarios.id'], name=op.f('fk_test_scenario_tags_scenario_id_test_scenarios'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_test_scenario_tags')),
    sa.UniqueConstraint('scenario_id', 'tag', name=op.f('uq_test_scenario_tags_scenario_id_tag'))
    )
    with op.batch_alter_table('test_scenario_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_test_scenario_tags_scenario_id'), ['scenario_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_test_scenario_tags_tag'), ['tag'], unique=False)



def downgrade() -> None:
    # Dropping a table drops its indexes; dropping an index first fails on MySQL while a foreign key needs it.
    op.drop_table('test_scenario_tags')
    op.drop_table('test_scenario_datasets')
    op.drop_table('test_scenario_cases')
    op.drop_table('api_request_tags')
    op.drop_table('api_request_datasets')
    op.drop_table('test_scenarios')
    op.drop_table('environments')
    op.drop_table('api_requests')
    op.drop_table('projects')
    op.drop_table('users')
