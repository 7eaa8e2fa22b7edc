"""Test plans (same roles, visibility and audit as scenarios) and their runs: start, read, cancel.

A plan's selection is checked when it is written and again when it is run: listed ids must be scenarios of
the plan's project that the caller may see, and a plan visible to others may not select a private scenario
(a shared suite must not depend on, or reveal, someone's private work); a private plan may select its owner's
private scenarios. Tags select the project's `active` scenarios under the same rule. A selection that comes
to no scenario is refused (422 naming `selection`): a plan that tests nothing must never pass.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal, require_visible
from app.cases.service import require_project_for_body
from app.core.crud import apply_changes, check_version
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.merge_patch import VARIABLE_MAP, merge_patch, validate_merged
from app.core.schemas import check_json_safe
from app.environments.secrets import environment_masker
from app.models import (
    ApiRequest,
    Environment,
    PlanRun,
    PlanRunStatus,
    TestPlan,
    TestScenario,
    TestScenarioCase,
    TestScenarioTag,
)
from app.models.base import utcnow
from app.plans import progress
from app.plans.schemas import (
    MAX_SCENARIOS,
    PassCriteria,
    PlanCreate,
    PlanUpdate,
    Selection,
    StopRules,
)
from app.plans.summary import PENDING
from app.runs import service as runs
from app.runs.schemas import CallbackUrl

STOP_RULES: TypeAdapter[StopRules] = TypeAdapter(StopRules)
PASS_CRITERIA: TypeAdapter[PassCriteria] = TypeAdapter(PassCriteria)
CALLBACK_URL: TypeAdapter[str | None] = TypeAdapter(CallbackUrl)
TRIGGER_TYPES = ("manual", "api", "schedule", "webhook", "ci")
TRIGGER_KEYS = 50
TRIGGER_TEXT = 2048
TRIGGER_VALUE_BYTES = 4096
WHO_MAY_RUN = {"owner": "its owner", "editors": "editors and above", "members": "runners and above"}


# ---- plans -------------------------------------------------------------------------------------------------
async def get_plan(session: AsyncSession, principal: Principal, plan_id: int, action: str = "read") -> TestPlan:
    plan = await session.get(TestPlan, plan_id)
    if plan is None:
        raise NotFound(f"test plan {plan_id} not found")
    await require_visible(session, principal, plan, "test plan", action)
    return plan


async def visible_plans(
    session: AsyncSession,
    principal: Principal,
    *,
    project_id: int | None = None,
    status: str | None = None,
    text: str | None = None,
) -> Select[TestPlan]:
    statement = select(TestPlan).where(await principal.visible_filter(session, TestPlan))
    if project_id is not None:
        statement = statement.where(TestPlan.project_id == project_id)
    if status is not None:
        statement = statement.where(TestPlan.status == status)
    if text:
        statement = statement.where(
            TestPlan.name.icontains(text, autoescape=True) | TestPlan.description.icontains(text, autoescape=True)
        )
    return statement.order_by(TestPlan.id.desc())


async def _check_environment(
    session: AsyncSession, project_id: int, environment_id: int | None, loc: list[str | int]
) -> None:
    if environment_id is None:
        return
    environment = await session.get(Environment, environment_id)
    if environment is None or environment.project_id != project_id:
        raise InvalidInput(f"environment {environment_id} is not an environment of project {project_id}", loc=loc)


async def resolve_selection(
    session: AsyncSession,
    principal: Principal,
    *,
    project_id: int,
    owner_id: int,
    visibility: str,
    selection: Selection,
    loc: list[str | int],
) -> list[TestScenario]:
    """The scenarios a selection comes to, in run order (listed ids, then tagged ones by id); 422 names the part."""
    ids, tags = selection.scenario_ids, selection.tags
    if not ids and not tags:
        raise InvalidInput("a plan runs at least one scenario: give scenario_ids, tags or both", loc=loc)
    found = {s.id: s for s in await session.scalars(select(TestScenario).where(TestScenario.id.in_(ids)))}
    role = await principal.role_in(session, project_id)
    chosen: list[TestScenario] = []
    for index, scenario_id in enumerate(ids):
        scenario = found.get(scenario_id)
        where = [*loc, "scenario_ids", index]
        if (
            scenario is None
            or scenario.project_id != project_id
            or not principal.can_see(role, scenario.owner_id, scenario.visibility)
        ):
            raise InvalidInput(f"scenario {scenario_id} is not a scenario of project {project_id}", loc=where)
        if scenario.visibility == "private" and not (visibility == "private" and scenario.owner_id == owner_id):
            raise InvalidInput(
                f"scenario {scenario_id} is private: only a private plan of its owner may select it "
                f"(this plan's visibility is '{visibility}'); share the scenario or make the plan private",
                loc=where,
            )
        chosen.append(scenario)
    if tags:
        shared = TestScenario.visibility != "private"
        allowed = or_(shared, TestScenario.owner_id == owner_id) if visibility == "private" else shared
        tagged = await session.scalars(
            select(TestScenario)
            .where(
                TestScenario.project_id == project_id,
                TestScenario.status == "active",
                TestScenario.id.in_(select(TestScenarioTag.scenario_id).where(TestScenarioTag.tag.in_(tags))),
                allowed,
            )
            .order_by(TestScenario.id)
            .limit(MAX_SCENARIOS + 1)
        )
        listed = set(ids)
        chosen += [scenario for scenario in tagged if scenario.id not in listed]
    if not chosen:
        raise InvalidInput(
            f"the selection comes to no scenario: no active scenario of project {project_id} "
            f"that this plan may select has any of the tags {tags}",
            loc=loc,
        )
    if len(chosen) > MAX_SCENARIOS:
        raise InvalidInput(f"the selection comes to more than {MAX_SCENARIOS} scenarios; narrow its tags", loc=loc)
    return chosen


async def create_plan(session: AsyncSession, principal: Principal, data: PlanCreate) -> TestPlan:
    await require_project_for_body(session, principal, data.project_id)
    await _check_environment(session, data.project_id, data.environment_id, ["body", "environment_id"])
    await resolve_selection(
        session,
        principal,
        project_id=data.project_id,
        owner_id=principal.user.id,
        visibility=data.visibility,
        selection=data.selection,
        loc=["body", "selection"],
    )
    plan = TestPlan(owner_id=principal.user.id, **data.model_dump(mode="json"))
    session.add(plan)
    await audit.created(session, principal, "test_plan", plan)
    return plan


async def update_plan(session: AsyncSession, principal: Principal, plan_id: int, data: PlanUpdate) -> TestPlan:
    plan = await get_plan(session, principal, plan_id, "edit")
    check_version(plan, data.version, "test plan")
    changes = data.changes()
    if changes.get("environment_id") is not None:
        await _check_environment(session, plan.project_id, changes["environment_id"], ["body", "environment_id"])
    if "selection" in changes or changes.get("visibility", plan.visibility) != plan.visibility:
        # A new selection, or the same one under a new visibility (a shared plan selects no private scenario).
        try:
            await resolve_selection(
                session,
                principal,
                project_id=plan.project_id,
                owner_id=plan.owner_id,
                visibility=changes.get("visibility", plan.visibility),
                selection=Selection.model_validate(changes.get("selection", plan.selection)),
                loc=["body", "selection"],
            )
        except InvalidInput as refused:
            if "selection" in changes:
                raise
            raise InvalidInput(f"the plan's selection: {refused.message}", loc=["body", "visibility"]) from None
    if "variables" in changes:
        merged = merge_patch(plan.variables or {}, changes["variables"])
        changes["variables"] = validate_merged(VARIABLE_MAP, merged, ["body", "variables"])
    if "stop_rules" in changes:
        merged = merge_patch(plan.stop_rules or {}, changes["stop_rules"])
        changes["stop_rules"] = validate_merged(STOP_RULES, merged, ["body", "stop_rules"]).model_dump(mode="json")
    if "pass_criteria" in changes:
        merged = merge_patch(plan.pass_criteria or {}, changes["pass_criteria"])
        criteria = validate_merged(PASS_CRITERIA, merged, ["body", "pass_criteria"])
        changes["pass_criteria"] = criteria.model_dump(mode="json")
    before = audit.snapshot(plan)
    apply_changes(plan, changes)
    await audit.updated(session, principal, "test_plan", plan, before)
    return plan


async def delete_plan(session: AsyncSession, principal: Principal, plan_id: int) -> None:
    """Its runs stay (with the plan's name); one in flight goes on from what it was started with."""
    plan = await get_plan(session, principal, plan_id, "edit")
    await audit.deleted(session, principal, "test_plan", plan)
    await session.delete(plan)
    await session.flush()


# ---- starting a plan run -----------------------------------------------------------------------------------
async def _check_may_run(
    session: AsyncSession, principal: Principal, project_id: int, scenarios: list[TestScenario]
) -> None:
    """Every case of every selected scenario (steps, setup, teardown) must be one the caller may run."""
    role = await principal.role_in(session, project_id)
    used: dict[int, int] = {}  # case id -> a scenario using it (for the message)
    rows = await session.execute(
        select(TestScenarioCase.case_id, TestScenarioCase.scenario_id).where(
            TestScenarioCase.scenario_id.in_([scenario.id for scenario in scenarios])
        )
    )
    for case_id, scenario_id in rows:
        used.setdefault(case_id, scenario_id)
    for scenario in scenarios:
        for step in [*scenario.setup, *scenario.teardown]:
            if isinstance(step, dict) and isinstance(step.get("case_id"), int):
                used.setdefault(step["case_id"], scenario.id)
    cases = await session.scalars(select(ApiRequest).where(ApiRequest.id.in_(list(used))).order_by(ApiRequest.id))
    for case in cases:
        if not runs.may_run(principal, role, case):
            raise Forbidden(
                f"case {case.id} '{case.name}' (in scenario {used[case.id]}) may be run only by "
                f"{WHO_MAY_RUN.get(case.run_permission, case.run_permission)}"
            )


def _bounded_value(value: Any) -> Any:
    if isinstance(value, str):
        return value[:TRIGGER_TEXT]
    if value is None or isinstance(value, bool | int | float):
        return value
    size = len(orjson.dumps(value, default=str))
    return value if size <= TRIGGER_VALUE_BYTES else f"(omitted: {size} bytes of JSON)"


def _trigger(principal: Principal, given: dict[str, Any] | None) -> dict[str, Any]:
    """Who or what started the run: the caller, plus what a schedule or webhook says (bounded, storable)."""
    trigger: dict[str, Any] = {"type": "api" if principal.token is not None else "manual"}
    if given:
        try:
            check_json_safe(given)
        except ValueError as exc:  # pydantic's error is a ValueError: a value no database stores
            raise InvalidInput(f"trigger: {exc}", loc=["trigger"]) from None
        for key, value in list(given.items())[:TRIGGER_KEYS]:
            trigger[str(key)[:64]] = _bounded_value(value)
        if trigger.get("type") not in TRIGGER_TYPES:
            raise InvalidInput(f"trigger type must be one of {', '.join(TRIGGER_TYPES)}", loc=["trigger", "type"])
    trigger.setdefault("user_id", principal.user.id)
    trigger.setdefault("user", principal.label)
    return trigger


async def start_plan_run(
    session: AsyncSession,
    principal: Principal,
    plan_id: int,
    *,
    environment_id: int | None = None,
    variables: dict[str, Any] | None = None,
    trigger: dict[str, Any] | None = None,
    callback_url: str | None = None,
) -> PlanRun:
    """Start a run of the plan: its first `concurrency` scenario runs begin once the caller commits.

    `trigger` says who or what started it ({"type": "schedule" | "webhook" | ..., "schedule_id", "commit",
    "branch", "build_url", ...}); commit, branch and build_url become each scenario run's CI metadata. Raises
    404/403 like a scenario run (runners and above, and every case's run_permission), 422 naming the field.
    """
    plan = await get_plan(session, principal, plan_id, "run")
    if plan.status == "archived":
        raise Conflict(f"test plan {plan.id} is archived; make it active to run it", code="plan_archived")
    if environment_id is not None:
        await _check_environment(session, plan.project_id, environment_id, ["body", "environment_id"])
    try:
        callback_url = CALLBACK_URL.validate_python(callback_url)
    except ValidationError as exc:
        raise InvalidInput(f"callback_url: {exc.errors()[0]['msg']}", loc=["body", "callback_url"]) from None
    merged = validate_merged(VARIABLE_MAP, {**(plan.variables or {}), **(variables or {})}, ["body", "variables"])
    scenarios = await resolve_selection(
        session,
        principal,
        project_id=plan.project_id,
        owner_id=plan.owner_id,
        visibility=plan.visibility,
        selection=Selection.model_validate(plan.selection),
        loc=["plan", "selection"],
    )
    await _check_may_run(session, principal, plan.project_id, scenarios)
    chosen_environment = environment_id if environment_id is not None else plan.environment_id
    masker = await environment_masker(session, chosen_environment)
    now = utcnow()
    plan_run = PlanRun(
        plan_id=plan.id,
        project_id=plan.project_id,
        plan_name=plan.name,
        status=PlanRunStatus.RUNNING,
        trigger=masker.value(_trigger(principal, trigger)),
        environment_id=chosen_environment,
        created_by_id=principal.user.id,
        variables=merged,
        callback_url=callback_url,
        concurrency=plan.concurrency,
        stop_rules=dict(plan.stop_rules or {}),
        pass_criteria=dict(plan.pass_criteria or {}),
        items=[{"scenario_id": s.id, "name": s.name, "run_id": None, "status": PENDING} for s in scenarios],
        scenarios_total=len(scenarios),
        created_at=now,
        started_at=now,
    )
    session.add(plan_run)
    await session.flush()
    await progress.advance(session, plan_run)
    await audit.record(
        session,
        principal,
        "run",
        "test_plan",
        plan.id,
        plan.project_id,
        {"after": {"plan_run_id": plan_run.id, "scenarios": len(scenarios), "trigger": plan_run.trigger.get("type")}},
    )
    return plan_run
