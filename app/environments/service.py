"""Environments: where requests go.

Secret values are write-only: reads mask them, and a masked value sent back keeps the stored one.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.crud import apply_changes, check_version, get_or_404
from app.core.errors import Conflict, InvalidInput
from app.environments.schemas import SECRET_MASK, EnvironmentCreate, EnvironmentUpdate
from app.models import Environment
from app.projects.service import get_project


async def _check_name_free(session: AsyncSession, project_id: int, name: str, own_id: int | None = None) -> None:
    clash = await session.scalar(
        select(Environment.id).where(Environment.project_id == project_id, Environment.name == name)
    )
    if clash is not None and clash != own_id:
        raise Conflict(
            f"project {project_id} already has an environment named '{name}'",
            code="duplicate_name",
            details=[{"loc": ["body", "name"], "msg": "already used in this project"}],
        )


async def create_environment(session: AsyncSession, project_id: int, data: EnvironmentCreate) -> Environment:
    await get_project(session, project_id)
    await _check_name_free(session, project_id, data.name)
    environment = Environment(project_id=project_id, **data.model_dump())
    session.add(environment)
    await session.flush()
    return environment


async def get_environment(session: AsyncSession, environment_id: int) -> Environment:
    return await get_or_404(session, Environment, environment_id, "environment")


async def update_environment(session: AsyncSession, environment_id: int, data: EnvironmentUpdate) -> Environment:
    environment = await get_environment(session, environment_id)
    check_version(environment, data.version, "environment")
    changes = data.changes()
    if "name" in changes:
        await _check_name_free(session, environment.project_id, changes["name"], environment.id)
    if "secret_variables" in changes:
        old = environment.secret_variables or {}
        merged = {}
        for key, value in changes["secret_variables"].items():
            if value == SECRET_MASK:
                if key not in old:
                    raise InvalidInput(
                        f"secret '{key}' is sent as the mask but has no stored value; send the real value",
                        loc=["body", "secret_variables", key],
                    )
                merged[key] = old[key]
            else:
                merged[key] = value
        changes["secret_variables"] = merged
    apply_changes(environment, changes)
    await session.flush()
    return environment


async def list_environments(session: AsyncSession, project_id: int) -> list[Environment]:
    await get_project(session, project_id)
    rows = await session.scalars(
        select(Environment).where(Environment.project_id == project_id).order_by(Environment.name)
    )
    return list(rows)


async def delete_environment(session: AsyncSession, environment_id: int) -> None:
    await session.delete(await get_environment(session, environment_id))
    await session.flush()
