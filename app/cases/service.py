"""Test cases: the rules for saving, sharing, cloning and deleting a request template."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal, require_role, require_visible
from app.cases import repository
from app.cases.schemas import CaseCloneRequest, CaseCreate, CaseUpdate
from app.core.crud import apply_changes, check_version
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.library import LibraryFilters
from app.core.tags import sync_tags
from app.models import ApiRequest, ApiRequestDataset, ApiRequestTag, Project
from app.runs import guard


def describe_scenarios(scenarios: list[Any]) -> str:
    return ", ".join(f"'{s.name}' (#{s.id})" for s in scenarios)


async def require_project_for_body(
    session: AsyncSession, principal: Principal, project_id: int, action: str = "edit"
) -> Project:
    """A project named in a request body: one the caller cannot see reads as one that does not exist."""
    project = await session.get(Project, project_id)
    role = await principal.role_in(session, project_id) if project else None
    if project is None or role is None:
        raise InvalidInput(f"project {project_id} does not exist", loc=["body", "project_id"])
    require_role(role, action, f"project {project_id}")
    return project


async def get_case(session: AsyncSession, principal: Principal, case_id: int, action: str = "read") -> ApiRequest:
    case = await session.scalar(repository.case_query().where(ApiRequest.id == case_id))
    if case is None:
        raise NotFound(f"case {case_id} not found")
    await require_visible(session, principal, case, "case", action)
    return case


async def visible_cases(session: AsyncSession, principal: Principal, filters: LibraryFilters) -> Select[ApiRequest]:
    statement = repository.filtered_cases(filters)
    return statement.where(await principal.visible_filter(session, ApiRequest))


def _snapshot(case: ApiRequest) -> dict[str, Any]:
    return audit.snapshot(case, tags=case.tags)


async def create_case(session: AsyncSession, principal: Principal, data: CaseCreate) -> ApiRequest:
    await require_project_for_body(session, principal, data.project_id)
    fields = data.model_dump(mode="json", by_alias=True, exclude={"tags"})
    case = ApiRequest(owner_id=principal.user.id, **fields)
    case.tag_rows = [ApiRequestTag(tag=tag) for tag in data.tags]
    session.add(case)
    await audit.created(session, principal, "case", case, tags=data.tags)
    return case


async def update_case(session: AsyncSession, principal: Principal, case_id: int, data: CaseUpdate) -> ApiRequest:
    case = await get_case(session, principal, case_id, "edit")
    check_version(case, data.version, "case")
    changes = data.changes()
    if changes.get("visibility") == "private" and case.visibility != "private":
        shared = [s for s in await repository.scenarios_using_case(session, case) if s.visibility != "private"]
        if shared:
            raise Conflict(
                f"case {case.id} is used by scenarios visible to others: {describe_scenarios(shared)}; "
                "a shared flow must not depend on a private case",
                code="case_in_use",
                details=[{"loc": ["body", "visibility"], "msg": "used by shared scenarios"}],
            )
    before = _snapshot(case)
    tags = changes.pop("tags", None)
    apply_changes(case, changes)
    if tags is not None:
        case.tag_rows = sync_tags(case.tag_rows, tags, ApiRequestTag)
    await audit.updated(session, principal, "case", case, before, tags=case.tags)
    return case


async def delete_case(session: AsyncSession, principal: Principal, case_id: int) -> None:
    case = await get_case(session, principal, case_id, "edit")
    await guard.check_case(session, case)  # first: while a run uses it, the answer names that run
    using = await repository.scenarios_using_case(session, case)
    if using:
        raise Conflict(
            f"case {case.id} is used by scenarios {describe_scenarios(using)}; remove it from them first, "
            "or archive the case (PATCH status=archived) to keep their history",
            code="case_in_use",
            details=[
                {
                    "loc": ["path", "case_id"],
                    "msg": "in use",
                    "scenarios": [{"id": s.id, "name": s.name} for s in using],
                }
            ],
        )
    datasets = [audit.snapshot(d) for d in await repository.datasets_of(session, case.id)]
    await audit.deleted(session, principal, "case", case, tags=case.tags, datasets=datasets)
    await session.delete(case)
    await session.flush()


async def clone_case(session: AsyncSession, principal: Principal, case_id: int, data: CaseCloneRequest) -> ApiRequest:
    source = await get_case(session, principal, case_id, "edit")  # the copy lands in the same project
    copied = {
        column: getattr(source, column)
        for column in ApiRequest.__table__.columns.keys()
        if column not in ("id", "owner_id", "version", "created_at", "updated_at", "name")
    }
    clone = ApiRequest(owner_id=principal.user.id, name=data.name or f"{source.name} (copy)"[:200], **copied)
    clone.tag_rows = [ApiRequestTag(tag=tag) for tag in source.tags]
    session.add(clone)
    await session.flush()
    if data.include_datasets:
        for dataset in await repository.datasets_of(session, source.id):
            session.add(
                ApiRequestDataset(
                    case_id=clone.id,
                    name=dataset.name,
                    variables=dataset.variables,
                    enabled=dataset.enabled,
                    position=dataset.position,
                )
            )
    await audit.created(session, principal, "case", clone, tags=source.tags, cloned_from=source.id)
    return clone
