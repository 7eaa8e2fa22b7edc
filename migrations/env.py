"""Alembic environment: async engines, the app's metadata, batch mode on SQLite."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from app.core.config import get_settings
from app.core.db import build_engine
from app.models import Base
from app.models.base import JSONValue, LongText

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url


def compare_type(
    ctx: Any, inspected: Any, metadata_column: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    """MariaDB reports JSON columns as LONGTEXT; that is the same column, not a change."""
    dialect = ctx.dialect.name
    if dialect in ("mysql", "mariadb"):
        impl = metadata_type.dialect_impl(ctx.dialect) if hasattr(metadata_type, "dialect_impl") else metadata_type
        names = {type(impl).__name__.upper(), type(inspected_type).__name__.upper()}
        if names <= {"JSON", "LONGTEXT"}:
            return False
    return None


def _configure(connection: Connection | None = None, url: str | None = None, **options: Any) -> None:
    is_sqlite = (url or (connection.dialect.name if connection else "")).startswith("sqlite")
    context.configure(
        **options,
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=compare_type,
        literal_binds=connection is None,
        user_module_prefix="app.models.base.",
    )


def run_migrations_offline() -> None:
    _configure(url=database_url())
    with context.begin_transaction():
        context.run_migrations()


def _sequences(connection: Connection) -> dict[str, int]:
    if not connection.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").first():
        return {}
    rows = connection.exec_driver_sql("SELECT name, max(seq) FROM sqlite_sequence GROUP BY name").fetchall()
    return {name: int(seq or 0) for name, seq in rows}


def _keep_sequences(connection: Connection, before: dict[str, int]) -> None:
    """A batch rebuild restarts a table's AUTOINCREMENT counter at its highest row, so the id of a deleted last
    row would be handed out again: put back the counter each table had before the migrations."""
    after = _sequences(connection)
    for name, seq in before.items():
        sql = connection.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).scalar()
        if not sql or "AUTOINCREMENT" not in str(sql).upper() or after.get(name, 0) >= seq:
            continue
        connection.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (name,))
        connection.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, seq))


def _run_sync(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode rebuilds a table by dropping it; with foreign keys on, that DROP runs the children's
        # ON DELETE CASCADE (rows lost) or SET NULL. Off for the migrations (set before any transaction, or it
        # is ignored), then the whole database is checked.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    highest: dict[str, int] = _sequences(connection) if sqlite else {}

    def after_step(**_: Any) -> None:
        # After every step, not once at the end: a step may raise a counter (the identity migration) that a
        # later step's rebuild would drop again.
        _keep_sequences(connection, highest)
        for name, seq in _sequences(connection).items():
            highest[name] = max(seq, highest.get(name, 0))

    _configure(connection=connection, **({"on_version_apply": after_step} if sqlite else {}))
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migrations left rows whose foreign key points nowhere: {broken[:10]}")
        connection.commit()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


async def run_migrations_online() -> None:
    engine = build_engine(database_url(), poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
        await connection.commit()
    await engine.dispose()


__all__ = ["JSONValue", "LongText"]

if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
