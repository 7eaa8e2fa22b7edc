"""Refuse to delete what a queued or running run uses: the run would end with the wrong cause.

The sink also survives a reference vanishing between this check and the delete (see sink.py); this
check is what tells the person deleting why, and which run to wait for or cancel.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict
from app.engine.statuses import ACTIVE
from app.models import ApiRequest, Environment, Project, ScenarioRun, TestScenario, TestScenarioCase


class InUseByActiveRun(Conflict):
    code = "in_use_by_active_run"


def _refuse(what: str, entity_id: int, name: str, loc: str, run: ScenarioRun) -> InUseByActiveRun:
    return InUseByActiveRun(
        f"{what} {entity_id} '{name}' is used by run {run.id}, which is {run.status}; wait for it to end "
        f"or cancel it (POST /api/v1/scenario-runs/{run.id}/cancel), then delete",
        details=[{"loc": ["path", loc], "msg": f"in use by {run.status} run {run.id}", "run_id": run.id}],
    )


async def _first_active(session: AsyncSession, *conditions: ColumnElement[bool]) -> ScenarioRun | None:
    return await session.scalar(
        select(ScenarioRun).where(ScenarioRun.status.in_(ACTIVE), *conditions).order_by(ScenarioRun.id).limit(1)
    )


def _uses(steps: list[Any] | None, case_id: int) -> bool:
    return any(isinstance(step, dict) and step.get("case_id") == case_id for step in steps or [])


async def check_case(session: AsyncSession, case: ApiRequest) -> None:
    """A case run of it, or a scenario run whose scenario uses it in steps, setup or teardown."""
    run = await _first_active(session, ScenarioRun.case_id == case.id, ScenarioRun.kind == "case")
    if run is None:
        stepped = set(
            await session.scalars(select(TestScenarioCase.scenario_id).where(TestScenarioCase.case_id == case.id))
        )
        active = await session.scalars(
            select(ScenarioRun)
            .where(
                ScenarioRun.status.in_(ACTIVE),
                ScenarioRun.project_id == case.project_id,
                ScenarioRun.scenario_id.is_not(None),
            )
            .order_by(ScenarioRun.id)
        )
        for candidate in active:
            assert candidate.scenario_id is not None
            if candidate.scenario_id in stepped:
                run = candidate
                break
            scenario = await session.get(TestScenario, candidate.scenario_id)
            if scenario is not None and (_uses(scenario.setup, case.id) or _uses(scenario.teardown, case.id)):
                run = candidate
                break
    if run is not None:
        raise _refuse("case", case.id, case.name, "case_id", run)


async def check_scenario(session: AsyncSession, scenario: TestScenario) -> None:
    run = await _first_active(session, ScenarioRun.scenario_id == scenario.id)
    if run is not None:
        raise _refuse("scenario", scenario.id, scenario.name, "scenario_id", run)


async def check_environment(session: AsyncSession, environment: Environment) -> None:
    run = await _first_active(session, ScenarioRun.environment_id == environment.id)
    if run is not None:
        raise _refuse("environment", environment.id, environment.name, "environment_id", run)


async def check_project(session: AsyncSession, project: Project) -> None:
    run = await _first_active(session, ScenarioRun.project_id == project.id)
    if run is not None:
        raise _refuse("project", project.id, project.name, "project_id", run)
