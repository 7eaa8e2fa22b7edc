"""Who is calling and with what power: a signed-in user, or an API token acting for its creator.

Access rules in one place (DESIGN 3, issue #3):
- a project's roles: viewer reads; runner also runs; editor also creates and changes; admin also manages
  members, environments and tokens; owner also deletes the project. A site admin may do everything.
- visibility: `private` items are seen by their owner and project admins, `project` by members,
  `public` by every signed-in user (read only). What a caller may not see answers 404, never 403.
- an API token belongs to one project; its role is capped by its creator's current role there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Forbidden, NotFound
from app.core.roles import at_least, weaker
from app.models import ApiToken, Project, ProjectMember, User

ACTION_ROLES = {"read": "viewer", "run": "runner", "edit": "editor", "manage": "admin", "own": "owner"}


@dataclass
class Principal:
    user: User
    token: ApiToken | None = None
    ip: str | None = None
    _roles: dict[int, str | None] | None = field(default=None, repr=False)

    @property
    def is_site_admin(self) -> bool:
        # A token is a narrow credential: it never carries its creator's site-wide power.
        return self.user.is_admin and self.token is None

    @property
    def label(self) -> str:
        if self.token is not None:
            return f"token:{self.token.name} ({self.user.email})"
        return self.user.email

    async def roles(self, session: AsyncSession) -> dict[int, str | None]:
        """project id -> this caller's role, for every project it belongs to (loaded once per request)."""
        if self._roles is None:
            rows = await session.execute(
                select(ProjectMember.project_id, ProjectMember.role).where(ProjectMember.user_id == self.user.id)
            )
            roles: dict[int, str | None] = {project_id: role for project_id, role in rows}
            if self.token is not None:
                creator_role = roles.get(self.token.project_id)
                roles = {self.token.project_id: weaker(self.token.role, creator_role) if creator_role else None}
            self._roles = roles
        return self._roles

    async def role_in(self, session: AsyncSession, project_id: int) -> str | None:
        if self.is_site_admin:
            return "owner"
        return (await self.roles(session)).get(project_id)

    def can_see(self, role: str | None, owner_id: int, visibility: str) -> bool:
        if self.is_site_admin:
            return True
        if visibility == "public" and self.token is None:
            return True
        if role is None:
            return False
        return visibility != "private" or owner_id == self.user.id or at_least(role, "admin")

    async def visible_filter(self, session: AsyncSession, model: Any) -> ColumnElement[bool]:
        """The same rule as can_see, as SQL, so lists and their totals only count what may be seen."""
        if self.is_site_admin:
            return true()
        roles = {pid: role for pid, role in (await self.roles(session)).items() if role}
        member_ids = list(roles)
        admin_ids = [pid for pid, role in roles.items() if at_least(role, "admin")]
        conditions = [
            and_(model.project_id.in_(member_ids), or_(model.visibility != "private", model.owner_id == self.user.id)),
            model.project_id.in_(admin_ids),
        ]
        if self.token is None:
            conditions.append(model.visibility == "public")
        return or_(*conditions) if member_ids or self.token is None else false()

    async def member_project_filter(self, session: AsyncSession) -> ColumnElement[bool]:
        if self.is_site_admin:
            return true()
        member_ids = [pid for pid, role in (await self.roles(session)).items() if role]
        return Project.id.in_(member_ids)


def _describe(action: str) -> str:
    return {"read": "read", "run": "run", "edit": "change", "manage": "manage", "own": "delete"}[action]


async def require_project(session: AsyncSession, principal: Principal, project_id: int, action: str) -> Project:
    """The project, if the caller belongs to it (404 otherwise) and its role allows `action` (403 otherwise)."""
    project = await session.get(Project, project_id)
    role = await principal.role_in(session, project_id) if project else None
    if project is None or role is None:
        raise NotFound(f"project {project_id} not found")
    require_role(role, action, f"project {project_id}")
    return project


def require_role(role: str | None, action: str, where: str) -> None:
    needed = ACTION_ROLES[action]
    if not at_least(role, needed):
        raise Forbidden(
            f"your role in {where} is '{role or 'none'}'; to {_describe(action)} here you need '{needed}' or higher"
        )


async def require_visible(
    session: AsyncSession, principal: Principal, entity: Any, label: str, action: str = "read"
) -> str | None:
    """404 for what the caller may not see; 403 when it may see but its role does not allow `action`."""
    role = await principal.role_in(session, entity.project_id)
    if not principal.can_see(role, entity.owner_id, entity.visibility):
        raise NotFound(f"{label} {entity.id} not found")
    if action == "read":
        return role
    if role is None:
        raise Forbidden(f"{label} {entity.id} is public: you may read it, not {_describe(action)} it")
    require_role(role, action, f"project {entity.project_id}")
    return role
