"""The migrations build exactly the models' schema, and go down and up again, on every backend."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.pool import NullPool

from app.core.bootstrap import alembic_config, migrate
from app.core.db import build_engine, dispose_engine
from app.models import Base


async def _tables(url: str) -> set[str]:
    engine = build_engine(url, poolclass=NullPool)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names


async def test_downgrade_removes_the_schema_and_upgrade_restores_it_matching_the_models(migrated_database):
    url = migrated_database
    await dispose_engine()  # no pooled connection may hold a lock while tables are dropped
    config = alembic_config(url)
    config.attributes["configure_logger"] = False

    await asyncio.to_thread(command.downgrade, config, "-1")
    assert "users" in await _tables(url)
    await asyncio.to_thread(command.downgrade, config, "base")
    assert not (await _tables(url)) & set(Base.metadata.tables)

    await asyncio.to_thread(migrate, url)
    assert set(Base.metadata.tables) <= await _tables(url)
    # `alembic check` autogenerates against the live schema and raises if anything differs from the models.
    await asyncio.to_thread(command.check, config)


def test_migration_files_are_date_prefixed():
    from pathlib import Path

    versions = Path(__file__).resolve().parents[1] / "migrations" / "versions"
    names = [p.name for p in versions.glob("*.py")]
    assert names
    assert all(name[:8].isdigit() and name[8] == "_" for name in names), names
