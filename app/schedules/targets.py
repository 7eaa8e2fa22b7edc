"""What a schedule or a trigger runs: exactly one scenario or plan of one project, started as its owner.

Scenario runs go through app.runs.service.start_scenario_run, plan runs through app.plans.service.start_plan_run:
the same checks as a person pressing "Run" (visibility, role, each case's run_permission, the environment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal, require_role
from app.core.errors import Forbidden, InvalidInput
from app.engine.statuses import ACTIVE
from app.models import Environment, PlanRun, ScenarioRun, TestPlan, TestScenario, User
from app.models.plan import PLAN_ACTIVE
from app.plans.service import start_plan_run
from app.runs.dispatch import dispatch
from app.runs.schemas import CiInfo, ScenarioRunCreate
from app.runs.service import start_scenario_run


async def check_target(
    session: AsyncSession,
    principal: Principal,
    *,
    scenario_id: int | None,
    plan_id: int | None,
    environment_id: int | None,
    action: str,
) -> int:
    """The project of a valid target the caller may `action` in (422 naming the field, 403 for the role)."""
    if (scenario_id is None) == (plan_id is None):
        field = "plan_id" if plan_id is not None else "scenario_id"
        raise InvalidInput("give exactly one of scenario_id and plan_id: what to run", loc=["body", field])
    entity: TestScenario | TestPlan | None
    if scenario_id is not None:
        entity, label, field = await session.get(TestScenario, scenario_id), "scenario", "scenario_id"
    else:
        entity, label, field = await session.get(TestPlan, plan_id), "plan", "plan_id"
    role = await principal.role_in(session, entity.project_id) if entity is not None else None
    if entity is None or not principal.can_see(role, entity.owner_id, entity.visibility) or role is None:
        raise InvalidInput(f"{label} {scenario_id or plan_id} does not exist", loc=["body", field])
    require_role(role, action, f"project {entity.project_id}")
    if environment_id is not None:
        environment = await session.get(Environment, environment_id)
        if environment is None or environment.project_id != entity.project_id:
            raise InvalidInput(
                f"environment {environment_id} is not an environment of project {entity.project_id}",
                loc=["body", "environment_id"],
            )
    return entity.project_id


@dataclass
class Started:
    """What a fire or a hook started: one of a scenario run or a plan run."""

    run: ScenarioRun | None = None
    plan_run: PlanRun | None = None

    @property
    def label(self) -> str:
        return f"plan run {self.plan_run.id}" if self.plan_run else f"scenario run {self.run.id if self.run else '?'}"


async def owner_principal(session: AsyncSession, owner_id: int, what: str) -> Principal:
    """The owner acting with its current rights; refused when the account is gone or disabled."""
    owner = await session.get(User, owner_id)
    if owner is None or not owner.is_active:
        raise Forbidden(f"the owner of {what} (user {owner_id}) is disabled; someone who may run it must save it again")
    return Principal(user=owner)


async def start(
    session: AsyncSession,
    principal: Principal,
    *,
    scenario_id: int | None,
    plan_id: int | None,
    environment_id: int | None,
    variables: dict[str, Any],
    trigger: str,
    ci: dict[str, Any],
) -> Started:
    """Start the target in the caller's transaction (flushed, not committed); AppError when it may not run."""
    commit, branch, build_url = ci.get("commit"), ci.get("branch"), ci.get("build_url")
    if scenario_id is not None:
        body = ScenarioRunCreate(
            environment_id=environment_id,
            variables=variables,
            trigger="ci" if trigger == "webhook" else "schedule",
            ci=CiInfo(commit=commit, branch=branch, build_url=build_url),
        )
        run = await start_scenario_run(session, principal, scenario_id, body)
        run.ci = {**run.ci, **{key: value for key, value in ci.items() if value is not None}}
        await session.flush()
        return Started(run=run)
    assert plan_id is not None
    plan_run = await start_plan_run(
        session,
        principal,
        plan_id,
        environment_id=environment_id,
        variables=variables,
        trigger={"type": trigger, **{key: value for key, value in ci.items() if value is not None}},
    )
    return Started(plan_run=plan_run)


async def hand_over(started: Started) -> None:
    """After the commit: give the run to its executor (BrokerUnavailable when the queue cannot be reached).

    A plan run's scenario runs are handed over by the plans domain itself when the transaction commits.
    """
    if started.run is not None:
        await dispatch(started.run)


async def still_running(session: AsyncSession, run_id: int | None, plan_run_id: int | None) -> str | None:
    """'scenario run 7' when that run (or plan run) is queued or running, else None."""
    if run_id is not None:
        status = await session.scalar(select(ScenarioRun.status).where(ScenarioRun.id == run_id))
        if status in ACTIVE:
            return f"scenario run {run_id} is still {status}"
    if plan_run_id is not None:
        plan_status = await session.scalar(select(PlanRun.status).where(PlanRun.id == plan_run_id))
        if plan_status in PLAN_ACTIVE:
            return f"plan run {plan_run_id} is still {plan_status}"
    return None
