"""Scenarios: business flows. Step lists and data rows are replaced whole, keeping the ids of items that stay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal, require_visible
from app.cases.service import require_project_for_body
from app.core.crud import apply_changes, check_version, touch
from app.core.errors import InvalidInput, NotFound
from app.core.library import LibraryFilters
from app.core.merge_patch import VARIABLE_MAP, merge_patch, validate_merged
from app.core.tags import sync_tags
from app.engine.specs import ScenarioSettings
from app.models import TestScenario, TestScenarioCase, TestScenarioDataset, TestScenarioTag
from app.runs import guard
from app.scenarios import repository
from app.scenarios.schemas import (
    ScenarioCloneRequest,
    ScenarioCreate,
    ScenarioRowIn,
    ScenarioUpdate,
    SetupStep,
    StepIn,
)

SETTINGS: TypeAdapter[ScenarioSettings] = TypeAdapter(ScenarioSettings)


async def get_scenario(
    session: AsyncSession, principal: Principal, scenario_id: int, action: str = "read"
) -> TestScenario:
    scenario = await session.scalar(repository.scenario_query().where(TestScenario.id == scenario_id))
    if scenario is None:
        raise NotFound(f"scenario {scenario_id} not found")
    await require_visible(session, principal, scenario, "scenario", action)
    return scenario


async def visible_scenarios(
    session: AsyncSession, principal: Principal, filters: LibraryFilters
) -> Select[TestScenario]:
    statement = repository.filtered_scenarios(filters)
    return statement.where(await principal.visible_filter(session, TestScenario))


def _snapshot(scenario: TestScenario, **extra: Any) -> dict[str, Any]:
    return audit.snapshot(scenario, tags=scenario.tags, **extra)


def _steps_state(steps: Sequence[TestScenarioCase]) -> list[dict[str, Any]]:
    return [audit.snapshot(step) for step in steps]


def _rows_state(rows: Sequence[TestScenarioDataset]) -> list[dict[str, Any]]:
    return [audit.snapshot(row) for row in rows]


async def check_steps(
    session: AsyncSession,
    principal: Principal,
    *,
    project_id: int,
    visibility: str,
    steps: Sequence[SetupStep],
    loc: Sequence[str | int],
) -> None:
    """Steps use cases of the scenario's project that the caller may see; a shared scenario uses no private case."""
    cases = await repository.cases_by_id(session, (step.case_id for step in steps))
    role = await principal.role_in(session, project_id)
    for index, step in enumerate(steps):
        case = cases.get(step.case_id)
        if case is None or case.project_id != project_id or not principal.can_see(role, case.owner_id, case.visibility):
            raise InvalidInput(
                f"case {step.case_id} is not a case of project {project_id}", loc=[*loc, index, "case_id"]
            )
        if visibility != "private" and case.visibility == "private":
            raise InvalidInput(
                f"case {case.id} is private; a scenario visible to others (visibility '{visibility}') "
                "cannot use it: share the case or make the scenario private",
                loc=[*loc, index, "case_id"],
            )
    seen_aliases: set[str] = set()
    for index, step in enumerate(steps):
        if step.alias and step.alias in seen_aliases:
            raise InvalidInput(f"alias '{step.alias}' is used by more than one step", loc=[*loc, index, "alias"])
        if step.alias:
            seen_aliases.add(step.alias)


async def _check_step_datasets(session: AsyncSession, steps: Sequence[StepIn]) -> None:
    owners = await repository.dataset_owners(session, (i for step in steps for i in step.dataset_ids))
    for index, step in enumerate(steps):
        for position, dataset_id in enumerate(step.dataset_ids):
            if owners.get(dataset_id) != step.case_id:
                raise InvalidInput(
                    f"dataset {dataset_id} is not a dataset of case {step.case_id}",
                    loc=["body", index, "dataset_ids", position],
                )


def _check_kept_ids(items: Sequence[Any], existing: set[int], what: str, scenario_id: int) -> None:
    seen: set[int] = set()
    for index, item in enumerate(items):
        if item.id is None:
            continue
        if item.id not in existing:
            raise InvalidInput(f"{what} {item.id} is not a {what} of scenario {scenario_id}", loc=["body", index, "id"])
        if item.id in seen:
            raise InvalidInput(f"{what} {item.id} appears twice in the list", loc=["body", index, "id"])
        seen.add(item.id)


def _dump_steps(steps: Sequence[SetupStep]) -> list[dict[str, Any]]:
    return [step.model_dump(mode="json") for step in steps]


async def create_scenario(session: AsyncSession, principal: Principal, data: ScenarioCreate) -> TestScenario:
    await require_project_for_body(session, principal, data.project_id)
    for part in ("setup", "teardown"):
        await check_steps(
            session,
            principal,
            project_id=data.project_id,
            visibility=data.visibility,
            steps=getattr(data, part),
            loc=["body", part],
        )
    fields = data.model_dump(mode="json", exclude={"tags", "setup", "teardown"})
    scenario = TestScenario(
        owner_id=principal.user.id, setup=_dump_steps(data.setup), teardown=_dump_steps(data.teardown), **fields
    )
    scenario.tag_rows = [TestScenarioTag(tag=tag) for tag in data.tags]
    session.add(scenario)
    await audit.created(session, principal, "scenario", scenario, tags=data.tags)
    return scenario


async def update_scenario(
    session: AsyncSession, principal: Principal, scenario_id: int, data: ScenarioUpdate
) -> TestScenario:
    scenario = await get_scenario(session, principal, scenario_id, "edit")
    check_version(scenario, data.version, "scenario")
    visibility = data.visibility or scenario.visibility
    for part in ("setup", "teardown"):
        if getattr(data, part) is not None:
            await check_steps(
                session,
                principal,
                project_id=scenario.project_id,
                visibility=visibility,
                steps=getattr(data, part),
                loc=["body", part],
            )
    if data.visibility and data.visibility != "private" and scenario.visibility == "private":
        await _check_shareable(session, scenario, data)
    before = _snapshot(scenario)
    changes = data.changes()
    if "variables" in changes:
        merged = merge_patch(scenario.variables or {}, changes["variables"])
        changes["variables"] = validate_merged(VARIABLE_MAP, merged, ["body", "variables"])
    if "settings" in changes:
        merged = merge_patch(scenario.settings or {}, changes["settings"])
        changes["settings"] = validate_merged(SETTINGS, merged, ["body", "settings"]).model_dump(mode="json")
    tags = changes.pop("tags", None)
    apply_changes(scenario, changes)
    if tags is not None:
        scenario.tag_rows = sync_tags(scenario.tag_rows, tags, TestScenarioTag)
    await audit.updated(session, principal, "scenario", scenario, before, tags=scenario.tags)
    return scenario


async def _check_shareable(session: AsyncSession, scenario: TestScenario, data: ScenarioUpdate) -> None:
    """Sharing a private scenario is refused while any of its steps uses a private case."""
    case_ids = [step.case_id for step in await repository.steps_of(session, scenario.id)]
    for part in ("setup", "teardown"):
        if getattr(data, part) is None:
            case_ids += [step["case_id"] for step in getattr(scenario, part)]
    cases = await repository.cases_by_id(session, case_ids)
    private = sorted(case.id for case in cases.values() if case.visibility == "private")
    if private:
        raise InvalidInput(
            f"scenario {scenario.id} uses private cases {private}; share them or keep the scenario private",
            loc=["body", "visibility"],
        )


async def delete_scenario(session: AsyncSession, principal: Principal, scenario_id: int) -> None:
    scenario = await get_scenario(session, principal, scenario_id, "edit")
    await guard.check_scenario(session, scenario)
    steps = _steps_state(await repository.steps_of(session, scenario.id))
    rows = _rows_state(await repository.rows_of(session, scenario.id))
    await audit.deleted(session, principal, "scenario", scenario, tags=scenario.tags, steps=steps, datasets=rows)
    await session.delete(scenario)
    await session.flush()


async def list_steps(session: AsyncSession, principal: Principal, scenario_id: int) -> list[TestScenarioCase]:
    await get_scenario(session, principal, scenario_id)
    return await repository.steps_of(session, scenario_id)


async def replace_steps(
    session: AsyncSession, principal: Principal, scenario_id: int, steps: list[StepIn], version: int | None
) -> list[TestScenarioCase]:
    scenario = await get_scenario(session, principal, scenario_id, "edit")
    if version is not None:
        check_version(scenario, version, "scenario", loc=("query", "version"))
    await check_steps(
        session, principal, project_id=scenario.project_id, visibility=scenario.visibility, steps=steps, loc=["body"]
    )
    await _check_step_datasets(session, steps)
    existing = {step.id: step for step in await repository.steps_of(session, scenario.id)}
    _check_kept_ids(steps, set(existing), "step", scenario.id)
    before = {"steps": _steps_state(list(existing.values()))}
    kept: set[int] = set()
    for position, item in enumerate(steps):
        fields = item.model_dump(mode="json", exclude={"id", "position"})
        if item.id is not None:
            apply_changes(existing[item.id], {**fields, "position": position})
            kept.add(item.id)
        else:
            session.add(TestScenarioCase(scenario_id=scenario.id, position=position, **fields))
    for step_id, step in existing.items():
        if step_id not in kept:
            await session.delete(step)
    touch(scenario)
    await session.flush()
    result = await repository.steps_of(session, scenario.id)
    await audit.record(
        session,
        principal,
        "update",
        "scenario_steps",
        scenario.id,
        scenario.project_id,
        audit.diff(before, {"steps": _steps_state(result)}),
    )
    return result


async def list_rows(session: AsyncSession, principal: Principal, scenario_id: int) -> list[TestScenarioDataset]:
    await get_scenario(session, principal, scenario_id)
    return await repository.rows_of(session, scenario_id)


async def replace_rows(
    session: AsyncSession, principal: Principal, scenario_id: int, rows: list[ScenarioRowIn], version: int | None
) -> list[TestScenarioDataset]:
    scenario = await get_scenario(session, principal, scenario_id, "edit")
    if version is not None:
        check_version(scenario, version, "scenario", loc=("query", "version"))
    existing = {row.id: row for row in await repository.rows_of(session, scenario.id)}
    _check_kept_ids(rows, set(existing), "data row", scenario.id)
    before = {"datasets": _rows_state(list(existing.values()))}
    kept: set[int] = set()
    for position, item in enumerate(rows):
        fields = {"name": item.name, "variables": item.variables, "position": position}
        if item.id is not None:
            apply_changes(existing[item.id], fields)
            kept.add(item.id)
        else:
            session.add(TestScenarioDataset(scenario_id=scenario.id, **fields))
    for row_id, row in existing.items():
        if row_id not in kept:
            await session.delete(row)
    touch(scenario)
    await session.flush()
    result = await repository.rows_of(session, scenario.id)
    await audit.record(
        session,
        principal,
        "update",
        "scenario_datasets",
        scenario.id,
        scenario.project_id,
        audit.diff(before, {"datasets": _rows_state(result)}),
    )
    return result


async def clone_scenario(
    session: AsyncSession, principal: Principal, scenario_id: int, data: ScenarioCloneRequest
) -> TestScenario:
    source = await get_scenario(session, principal, scenario_id, "edit")  # the copy lands in the same project
    copied = {
        column: getattr(source, column)
        for column in TestScenario.__table__.columns.keys()
        if column not in ("id", "owner_id", "version", "created_at", "updated_at", "name")
    }
    clone = TestScenario(owner_id=principal.user.id, name=data.name or f"{source.name} (copy)"[:200], **copied)
    clone.tag_rows = [TestScenarioTag(tag=tag) for tag in source.tags]
    session.add(clone)
    await session.flush()
    for step in await repository.steps_of(session, source.id):
        session.add(
            TestScenarioCase(
                scenario_id=clone.id,
                case_id=step.case_id,
                position=step.position,
                alias=step.alias,
                enabled=step.enabled,
                skip_if=step.skip_if,
                variables=step.variables,
                dataset_mode=step.dataset_mode,
                dataset_ids=step.dataset_ids,
            )
        )
    for row in await repository.rows_of(session, source.id):
        session.add(
            TestScenarioDataset(scenario_id=clone.id, name=row.name, variables=row.variables, position=row.position)
        )
    await audit.created(session, principal, "scenario", clone, tags=source.tags, cloned_from=source.id)
    return clone
