"""identity hardening: ids never reused (SQLite AUTOINCREMENT)

Without AUTOINCREMENT, SQLite gives a new row max(id) + 1, so deleting the last project handed its id to
the next one, with everything that still named that id (its audit trail). SQLite cannot add AUTOINCREMENT
to a table: each table is rebuilt (copied into a new table, old one dropped, new one renamed), keeping
rows, indexes, constraints and foreign keys. MySQL/MariaDB and PostgreSQL never reuse an id: nothing to do.

Foreign key enforcement must be off for the rebuild (dropping a parent table with it on would run its
ON DELETE CASCADE and empty the children): migrations/env.py turns it off and checks the database after.

Revision ID: b7e1a9c2d4f0
Revises: 6f849ec6b8cf
Create Date: 2026-12-01 15:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = 'b7e1a9c2d4f0'
down_revision: str | None = '6f849ec6b8cf'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table with an integer primary key, as of this revision.
TABLES = (
    'users',
    'projects',
    'environments',
    'project_members',
    'api_tokens',
    'api_requests',
    'api_request_tags',
    'api_request_datasets',
    'test_scenarios',
    'test_scenario_tags',
    'test_scenario_cases',
    'test_scenario_datasets',
    'scenario_runs',
    'api_request_runs',
    'audit_log',
    'login_throttles',
)

# Ids the audit trail has named may belong to rows deleted before this upgrade: never hand them out again.
AUDITED = {
    'users': 'user',
    'projects': 'project',
    'environments': 'environment',
    'api_tokens': 'token',
    'api_requests': 'case',
    'api_request_datasets': 'dataset',
    'test_scenarios': 'scenario',
    'scenario_runs': 'scenario_run',
}


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild(autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild(autoincrement=False)


def _rebuild(*, autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.exec_driver_sql('PRAGMA foreign_keys').scalar():
        raise RuntimeError('foreign keys must be off to rebuild tables on SQLite (migrations/env.py does it)')
    for table in TABLES:
        with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}):
            pass
    if autoincrement:
        _skip_audited_ids()


def _skip_audited_ids() -> None:
    """Start each table's sequence above every id the audit trail names, deleted rows included."""
    bind = op.get_bind()
    for table, entity in AUDITED.items():
        highest = bind.exec_driver_sql(
            f'SELECT max(coalesce((SELECT max(id) FROM {table}), 0), '  # noqa: S608  (names from AUDITED)
            'coalesce((SELECT max(entity_id) FROM audit_log WHERE entity = ?), 0))',
            (entity,),
        ).scalar_one()
        if not highest:
            continue
        bind.exec_driver_sql('DELETE FROM sqlite_sequence WHERE name = ?', (table,))
        bind.exec_driver_sql('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)', (table, highest))
