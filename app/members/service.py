"""Project membership. Only owners hand out or take away ownership, and a project always keeps an owner."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal, require_project, require_role
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.members.schemas import MemberCreate, MemberUpdate
from app.models import ProjectMember, User
from app.users.service import get_by_email


def _read(member: ProjectMember, user: User) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "role": member.role,
        "created_at": member.created_at,
    }


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    project_id: int,
    user: User,
    before: str | None = None,
    after: str | None = None,
) -> None:
    """Member entries are filed under the member's user id and always say who it is about."""
    who = {"user_id": user.id, "email": user.email}
    changes = {}
    if before is not None:
        changes["before"] = {**who, "role": before}
    if after is not None:
        changes["after"] = {**who, "role": after}
    await audit.record(session, principal, action, "member", user.id, project_id, changes)


async def list_members(session: AsyncSession, principal: Principal, project_id: int) -> list[dict[str, Any]]:
    await require_project(session, principal, project_id, "read")
    rows = await session.execute(
        select(ProjectMember, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id)
        .order_by(User.email)
    )
    return [_read(member, user) for member, user in rows]


async def _manager_role(session: AsyncSession, principal: Principal, project_id: int) -> str | None:
    if principal.token is not None:
        raise Forbidden("an API token cannot manage members; sign in as a person")
    await require_project(session, principal, project_id, "manage")
    return await principal.role_in(session, project_id)


def _owner_only(manager_role: str | None, *roles: str) -> None:
    if "owner" in roles:
        require_role(manager_role, "own", "this project (only owners grant or remove ownership)")


async def _owners(session: AsyncSession, project_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(ProjectMember.project_id == project_id, ProjectMember.role == "owner")
        )
        or 0
    )


async def _member(session: AsyncSession, project_id: int, user_id: int) -> tuple[ProjectMember, User]:
    row = (
        await session.execute(
            select(ProjectMember, User)
            .join(User, User.id == ProjectMember.user_id)
            .where(ProjectMember.project_id == project_id, ProjectMember.user_id == user_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"user {user_id} is not a member of project {project_id}")
    return row[0], row[1]


async def add_member(
    session: AsyncSession, principal: Principal, project_id: int, data: MemberCreate
) -> dict[str, Any]:
    manager_role = await _manager_role(session, principal, project_id)
    _owner_only(manager_role, data.role)
    user = await get_by_email(session, data.email)
    if user is None:
        raise InvalidInput(f"no user with email '{data.email}'; a site admin creates accounts", loc=["body", "email"])
    exists = await session.scalar(
        select(ProjectMember.id).where(ProjectMember.project_id == project_id, ProjectMember.user_id == user.id)
    )
    if exists is not None:
        raise Conflict(f"{data.email} is already a member of project {project_id}; PATCH the role instead")
    member = ProjectMember(project_id=project_id, user_id=user.id, role=data.role)
    session.add(member)
    await session.flush()
    await _audit(session, principal, "create", project_id, user, after=data.role)
    return _read(member, user)


async def change_role(
    session: AsyncSession, principal: Principal, project_id: int, user_id: int, data: MemberUpdate
) -> dict[str, Any]:
    manager_role = await _manager_role(session, principal, project_id)
    member, user = await _member(session, project_id, user_id)
    _owner_only(manager_role, member.role, data.role)
    if member.role == "owner" and data.role != "owner" and await _owners(session, project_id) <= 1:
        raise Conflict(f"{user.email} is the last owner of project {project_id}; make someone else owner first")
    before = member.role
    member.role = data.role
    await session.flush()
    await _audit(session, principal, "update", project_id, user, before=before, after=data.role)
    return _read(member, user)


async def remove_member(session: AsyncSession, principal: Principal, project_id: int, user_id: int) -> None:
    leaving_self = principal.token is None and principal.user.id == user_id
    if leaving_self:
        await require_project(session, principal, project_id, "read")
        manager_role: str | None = "owner"
    else:
        manager_role = await _manager_role(session, principal, project_id)
    member, user = await _member(session, project_id, user_id)
    _owner_only(manager_role, member.role)
    if member.role == "owner" and await _owners(session, project_id) <= 1:
        raise Conflict(f"{user.email} is the last owner of project {project_id}; a project always keeps an owner")
    await _audit(session, principal, "delete", project_id, user, before=member.role)
    await session.delete(member)
    await session.flush()
