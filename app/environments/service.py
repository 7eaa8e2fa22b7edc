"""Environments: where requests go.

Secret values are write-only and encrypted at rest: reads mask them, a masked value sent back keeps the
stored one, and the audit trail records only which secrets changed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal, require_project
from app.core.crud import apply_changes, check_version
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.merge_patch import VARIABLE_MAP, merge_patch, validate_merged
from app.core.secret_box import seal
from app.environments.schemas import SECRET_MASK, EnvironmentCreate, EnvironmentUpdate
from app.models import Environment
from app.runs import guard


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


async def create_environment(
    session: AsyncSession, principal: Principal, project_id: int, data: EnvironmentCreate
) -> Environment:
    await require_project(session, principal, project_id, "manage")
    await _check_name_free(session, project_id, data.name)
    fields = data.model_dump()
    fields["secret_variables"] = {key: seal(value) for key, value in data.secret_variables.items()}
    environment = Environment(project_id=project_id, **fields)
    session.add(environment)
    await audit.created(session, principal, "environment", environment)
    return environment


async def get_environment(
    session: AsyncSession, principal: Principal, environment_id: int, action: str = "read"
) -> Environment:
    environment = await session.get(Environment, environment_id)
    if environment is None or await principal.role_in(session, environment.project_id) is None:
        raise NotFound(f"environment {environment_id} not found")
    await require_project(session, principal, environment.project_id, action)
    return environment


def _merge_secrets(old: dict[str, Any], sent: dict[str, str | None]) -> tuple[dict[str, Any], list[str]]:
    """A merge patch of the secrets: new values sealed, the mask or an absent key keeps the stored value,
    null removes it; also the names whose value changed (for the audit trail)."""
    patch: dict[str, Any] = {}
    for key, value in sent.items():
        if value == SECRET_MASK:
            if key not in old:
                raise InvalidInput(
                    f"secret '{key}' is sent as the mask but has no stored value; send the real value",
                    loc=["body", "secret_variables", key],
                )
            continue
        patch[key] = None if value is None else seal(value)
    merged: dict[str, Any] = merge_patch(old, patch)
    changed = sorted((set(old) ^ set(merged)) | {k for k in merged if k in old and merged[k] != old[k]})
    return merged, changed


async def update_environment(
    session: AsyncSession, principal: Principal, environment_id: int, data: EnvironmentUpdate
) -> Environment:
    environment = await get_environment(session, principal, environment_id, "manage")
    check_version(environment, data.version, "environment")
    changes = data.changes()
    if "name" in changes:
        await _check_name_free(session, environment.project_id, changes["name"], environment.id)
    if "variables" in changes:
        merged = merge_patch(environment.variables or {}, changes["variables"])
        changes["variables"] = validate_merged(VARIABLE_MAP, merged, ["body", "variables"])
    changed_secrets: list[str] = []
    if "secret_variables" in changes:
        changes["secret_variables"], changed_secrets = _merge_secrets(
            environment.secret_variables or {}, changes["secret_variables"]
        )
    before = audit.snapshot(environment)
    apply_changes(environment, changes)
    extra: dict[str, Any] = {"secrets_changed": changed_secrets} if changed_secrets else {}
    await audit.updated(session, principal, "environment", environment, before, **extra)
    return environment


async def list_environments(session: AsyncSession, principal: Principal, project_id: int) -> list[Environment]:
    await require_project(session, principal, project_id, "read")
    rows = await session.scalars(
        select(Environment).where(Environment.project_id == project_id).order_by(Environment.name)
    )
    return list(rows)


async def delete_environment(session: AsyncSession, principal: Principal, environment_id: int) -> None:
    environment = await get_environment(session, principal, environment_id, "manage")
    await guard.check_environment(session, environment)
    await audit.deleted(session, principal, "environment", environment)
    await session.delete(environment)
    await session.flush()
