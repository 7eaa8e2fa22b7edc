"""Ids are never handed out twice (SQLite AUTOINCREMENT), and a project's audit trail never outlives it.

Without AUTOINCREMENT SQLite gave a new project the id of a just-deleted one, and the audit trail (with the
deleted cases' content) was shown to the new project's owner because it was filtered by that id alone.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.pool import NullPool

from app.core.bootstrap import alembic_config, migrate
from app.core.db import build_engine, get_session_factory
from app.models import (
    ApiRequest,
    ApiRequestDataset,
    ApiRequestTag,
    AuditLog,
    Base,
    Environment,
    Project,
    ProjectMember,
    User,
)
from app.models.base import utcnow
from tests import factories
from tests.conftest import BACKEND, bearer

API = "/api/v1"
SECRET_CONTENT = "content-of-project-a-nobody-else-may-read"
BEFORE_IDENTITY_MIGRATION = "6f849ec6b8cf"


async def audit_as(client: httpx.AsyncClient, user: User, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/audit", params={"page_size": 200, **params}, headers=bearer(user))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def project_with_a_case(client: httpx.AsyncClient, owner: User) -> dict[str, Any]:
    client.headers.update(bearer(owner))
    project = await factories.project(client, name="project a")
    await factories.case(client, project["id"], description=SECRET_CONTENT)
    del client.headers["Authorization"]
    return project


async def delete_project(client: httpx.AsyncClient, owner: User, project_id: int) -> None:
    response = await client.delete(f"{API}/projects/{project_id}", headers=bearer(owner))
    assert response.status_code == 204, response.text


async def test_a_new_project_never_gets_the_id_of_a_deleted_one_nor_its_history(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    alice, bob = await make_user(email="alice@example.com"), await make_user(email="bob@example.com")
    project_a = await project_with_a_case(client, alice)
    await delete_project(client, alice, project_a["id"])

    created = await client.post(f"{API}/projects", json={"name": "project b"}, headers=bearer(bob))
    assert created.status_code == 201, created.text
    project_b = created.json()
    assert project_b["id"] != project_a["id"]  # SQLite gave the deleted project's id again

    seen = await audit_as(client, bob)
    assert {entry["project_id"] for entry in seen} == {project_b["id"]}
    assert SECRET_CONTENT not in str(seen)


async def test_a_projects_trail_starts_after_the_last_deletion_of_its_id(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    """Should an id come back anyway (a database restored from a dump, a backend that reuses ids), the
    new project's admins see only what happened to the new project."""
    alice = await make_user(email="alice@example.com")
    bob = await make_user(email="bob@example.com")
    root = await make_user(email="root@example.com", is_admin=True)
    project_a = await project_with_a_case(client, alice)
    await delete_project(client, alice, project_a["id"])

    async with get_session_factory()() as db:  # a new project with the very same id
        db.add(Project(id=project_a["id"], name="project b", owner_id=bob.id))
        await db.flush()
        db.add(ProjectMember(project_id=project_a["id"], user_id=bob.id, role="owner"))
        await db.commit()
    renamed = await client.patch(
        f"{API}/projects/{project_a['id']}", json={"name": "project b2", "version": 1}, headers=bearer(bob)
    )
    assert renamed.status_code == 200, renamed.text

    def kinds(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
        assert SECRET_CONTENT not in str(entries)
        return [(entry["entity"], entry["action"]) for entry in entries]

    assert kinds(await audit_as(client, bob)) == [("project", "update")]
    assert kinds(await audit_as(client, bob, project_id=project_a["id"])) == [("project", "update")]
    assert kinds(await audit_as(client, bob, entity="case")) == []
    # A site admin still reads the deleted project's history (to restore what was lost).
    everything = await audit_as(client, root)
    assert SECRET_CONTENT in str(everything)
    assert ("project", "delete") in [(e["entity"], e["action"]) for e in everything]


@pytest.mark.skipif(BACKEND != "sqlite", reason="AUTOINCREMENT is SQLite's; the other databases never reuse ids")
async def test_every_table_with_an_integer_key_is_autoincrement_on_sqlite(migrated_database: str) -> None:
    path = migrated_database.split("///", 1)[1]
    schema = await asyncio.to_thread(_table_sql, path)
    assert set(Base.metadata.tables) <= set(schema)
    assert [name for name in Base.metadata.tables if "AUTOINCREMENT" not in schema[name]] == []


def _table_sql(path: str) -> dict[str, str]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())


def _shape(path: str) -> dict[str, Any]:
    """Rows per table, indexes (name, columns, unique) and foreign keys of every table, as SQLite reports them."""
    with sqlite3.connect(path) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'") if t in TABLES]
        shape: dict[str, Any] = {}
        for table in tables:
            indexes = []
            for _seq, name, unique, *_ in db.execute(f"PRAGMA index_list('{table}')"):
                columns = [c for _n, _cid, c in db.execute(f"PRAGMA index_info('{name}')")]
                indexes.append((columns, unique) if name.startswith("sqlite_autoindex") else (name, columns, unique))
            shape[table] = {
                "rows": db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall(),
                "indexes": sorted(indexes, key=str),
                "foreign_keys": sorted(tuple(fk[2:]) for fk in db.execute(f"PRAGMA foreign_key_list('{table}')")),
            }
        return shape


TABLES = set(Base.metadata.tables)


async def _fill(url: str) -> dict[str, int]:
    """A user, two projects with a case (tag, dataset), an environment and a member; one project deleted."""
    engine = build_engine(url, poolclass=NullPool)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as db:
            user = User(email="owner@example.com", password_hash="x")
            db.add(user)
            await db.flush()
            ids = {"user": user.id}
            for name in ("kept", "deleted"):
                project = Project(name=name, owner_id=user.id)
                db.add(project)
                await db.flush()
                case = ApiRequest(project_id=project.id, owner_id=user.id, name="c", method="GET", url="/x")
                db.add_all([case, Environment(project_id=project.id, name="dev")])
                db.add(ProjectMember(project_id=project.id, user_id=user.id, role="owner"))
                await db.flush()
                db.add_all([ApiRequestTag(case_id=case.id, tag="smoke"), ApiRequestDataset(case_id=case.id, name="d")])
                db.add(
                    AuditLog(
                        at=utcnow(),
                        actor="owner@example.com",
                        action="create",
                        entity="project",
                        entity_id=project.id,
                        project_id=project.id,
                        changes={},
                    )
                )
                ids[name] = project.id
            await db.commit()
            await db.delete(await db.get(Project, ids["deleted"]))
            await db.commit()
        return ids
    finally:
        await engine.dispose()


async def _new_project_id(url: str, owner_id: int) -> int:
    engine = build_engine(url, poolclass=NullPool)
    try:
        # Core, with the columns every revision has: the ORM model carries columns later revisions added.
        now = datetime.now(UTC)
        row = {
            "name": "new",
            "description": "",
            "owner_id": owner_id,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        # Only these columns: the model's own Python-side defaults (ai_enabled, ...) belong to later revisions.
        projects = sa.table("projects", *(sa.column(name) for name in row))
        async with engine.begin() as connection:
            result = await connection.execute(insert(projects).values(row))
            return int(result.lastrowid)
    finally:
        await engine.dispose()


async def _cascades(url: str, project_id: int) -> list[int]:
    """Delete a project; the case ids still pointing at it (ON DELETE CASCADE must leave none)."""
    engine = build_engine(url, poolclass=NullPool)
    try:
        async with async_sessionmaker(engine)() as db:
            await db.execute(delete(Project.__table__).where(Project.__table__.c.id == project_id))
            await db.commit()
            return list(await db.scalars(select(ApiRequest.id).where(ApiRequest.project_id == project_id)))
    finally:
        await engine.dispose()


async def test_the_identity_migration_keeps_rows_indexes_and_foreign_keys_both_ways() -> None:
    """On a SQLite file with data: down (AUTOINCREMENT off), up again (on), nothing lost, links still enforced,
    and an id the audit trail names (a project deleted before the upgrade) is not handed out again."""
    from alembic import command

    path = Path(tempfile.mkdtemp(prefix="exile-identity-")) / "identity.db"
    url = f"sqlite+aiosqlite:///{path}"
    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    await asyncio.to_thread(migrate, url)
    ids = await _fill(url)
    at_head = await asyncio.to_thread(_shape, str(path))
    assert at_head["api_requests"]["rows"] and at_head["api_request_tags"]["rows"]

    await asyncio.to_thread(command.downgrade, config, BEFORE_IDENTITY_MIGRATION)
    before = await asyncio.to_thread(_table_sql, str(path))
    assert not [name for name, sql in before.items() if "AUTOINCREMENT" in (sql or "")]
    # What the old schema did: the deleted (last) project's id comes back. Remove that row again.
    reused = await _new_project_id(url, ids["user"])
    assert reused == ids["deleted"]
    await _cascades(url, reused)

    await asyncio.to_thread(migrate, url)
    after = await asyncio.to_thread(_table_sql, str(path))
    assert [name for name in TABLES if "AUTOINCREMENT" not in after[name]] == []
    at_head_again = await asyncio.to_thread(_shape, str(path))
    for table in TABLES:
        for part in ("indexes", "foreign_keys"):
            assert at_head_again[table][part] == at_head[table][part], (table, part)
        assert at_head_again[table]["rows"] == at_head[table]["rows"], table

    assert await _new_project_id(url, ids["user"]) > ids["deleted"]  # the audit trail named it
    assert await _cascades(url, ids["kept"]) == []
