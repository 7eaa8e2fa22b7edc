"""Starting, reading, cancelling and re-running runs; every way to run a case honours its run_permission."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal
from app.cases.service import get_case
from app.core.config import get_settings
from app.core.errors import AppError, Conflict, Forbidden, InvalidInput, NotFound
from app.core.roles import at_least
from app.engine.statuses import FAILING, FINISHED, RunStatus
from app.models import (
    ApiRequest,
    ApiRequestDataset,
    ApiRequestRun,
    Environment,
    ScenarioRun,
    ScenarioRunChunk,
    TestScenario,
    TestScenarioCase,
    TestScenarioDataset,
)
from app.models.base import utcnow
from app.runs.ending import record_end
from app.runs.schemas import CaseRunCreate, RerunCreate, ScenarioRunCreate
from app.scenarios.service import get_scenario


def may_run(principal: Principal, role: str | None, case: ApiRequest) -> bool:
    """run_permission: owner = the case's owner; editors = editor or higher; members = runner or higher."""
    if principal.is_site_admin:
        return True
    if case.run_permission == "owner":
        return case.owner_id == principal.user.id and at_least(role, "runner")
    return at_least(role, "editor" if case.run_permission == "editors" else "runner")


def _refuse_run(case: ApiRequest) -> Forbidden:
    who = {"owner": "its owner", "editors": "editors and above", "members": "runners and above"}
    return Forbidden(f"case {case.id} '{case.name}' may be run only by {who[case.run_permission]}")


async def _environment(session: AsyncSession, project_id: int, environment_id: int | None) -> None:
    if environment_id is None:
        return
    environment = await session.get(Environment, environment_id)
    if environment is None or environment.project_id != project_id:
        raise InvalidInput(
            f"environment {environment_id} is not an environment of project {project_id}",
            loc=["body", "environment_id"],
        )


class NothingToRun(AppError):
    status_code, code = 422, "nothing_to_run"


def _trigger(principal: Principal, asked: str | None) -> str:
    return asked or ("api" if principal.token is not None else "manual")


async def start_scenario_run(
    session: AsyncSession,
    principal: Principal,
    scenario_id: int,
    data: ScenarioRunCreate,
    only_iterations: list[int] | None = None,
    rerun_of: ScenarioRun | None = None,
) -> ScenarioRun:
    scenario = await get_scenario(session, principal, scenario_id, "run")
    enabled_steps = await session.scalar(
        select(func.count())
        .select_from(TestScenarioCase)
        .where(TestScenarioCase.scenario_id == scenario.id, TestScenarioCase.enabled.is_(True))
    )
    if not enabled_steps:  # a run that tests nothing must never pass (CI would go green on it)
        message = f"scenario {scenario.id} '{scenario.name}' has no enabled steps: add or enable a step, then run it"
        raise NothingToRun(message, details=[{"loc": ["path", "scenario_id"], "msg": "no enabled steps"}])
    role = await principal.role_in(session, scenario.project_id)
    step_case_ids = set(
        await session.scalars(select(TestScenarioCase.case_id).where(TestScenarioCase.scenario_id == scenario.id))
    )
    case_ids = step_case_ids | {s["case_id"] for s in [*scenario.setup, *scenario.teardown]}
    for case in await session.scalars(select(ApiRequest).where(ApiRequest.id.in_(case_ids)).order_by(ApiRequest.id)):
        if not may_run(principal, role, case):
            raise _refuse_run(case)
    await _environment(session, scenario.project_id, data.environment_id)
    settings = dict(scenario.settings or {})
    if data.concurrency is not None:
        settings["concurrency"] = data.concurrency
    if only_iterations is not None:
        total = len(only_iterations)
    else:
        rows = await session.scalar(
            select(func.count()).select_from(TestScenarioDataset).where(TestScenarioDataset.scenario_id == scenario.id)
        )
        total = int(rows or 0) or 1
    run = ScenarioRun(
        project_id=scenario.project_id,
        scenario_id=scenario.id,
        kind="scenario",
        status=RunStatus.QUEUED,
        trigger=_trigger(principal, data.trigger),
        executor=get_settings().executor,
        environment_id=data.environment_id,
        created_by_id=principal.user.id,
        variables=data.variables,
        ci=data.ci.model_dump(exclude_none=True),
        callback_url=data.callback_url,
        settings=settings,
        only_iterations=only_iterations,
        rerun_of_id=rerun_of.id if rerun_of else None,
        iterations_total=total,
        created_at=utcnow(),
    )
    session.add(run)
    await session.flush()
    await audit.record(
        session,
        principal,
        "run",
        "scenario",
        scenario.id,
        scenario.project_id,
        {"after": {"scenario_run_id": run.id, "trigger": run.trigger, "rerun_of_id": run.rerun_of_id}},
    )
    return run


async def start_case_run(
    session: AsyncSession,
    principal: Principal,
    case_id: int,
    data: CaseRunCreate,
    rerun_of: ScenarioRun | None = None,
) -> ScenarioRun:
    case = await get_case(session, principal, case_id, "run")
    if not may_run(principal, await principal.role_in(session, case.project_id), case):
        raise _refuse_run(case)
    await _environment(session, case.project_id, data.environment_id)
    datasets = {
        d.id: d
        for d in await session.scalars(
            select(ApiRequestDataset)
            .where(ApiRequestDataset.case_id == case.id)
            .order_by(ApiRequestDataset.position, ApiRequestDataset.id)
        )
    }
    if data.dataset_ids is None:
        dataset_ids = [d.id for d in datasets.values() if d.enabled]
    else:
        for index, dataset_id in enumerate(data.dataset_ids):
            if dataset_id not in datasets:
                raise InvalidInput(
                    f"dataset {dataset_id} is not a dataset of case {case.id}", loc=["body", "dataset_ids", index]
                )
        dataset_ids = list(data.dataset_ids)
    run = ScenarioRun(
        project_id=case.project_id,
        case_id=case.id,
        kind="case",
        status=RunStatus.QUEUED,
        trigger=_trigger(principal, None),
        executor=get_settings().executor,
        environment_id=data.environment_id,
        created_by_id=principal.user.id,
        variables=data.variables,
        settings={"concurrency": 16},
        dataset_ids=dataset_ids or None,
        rerun_of_id=rerun_of.id if rerun_of else None,
        iterations_total=1,
        created_at=utcnow(),
    )
    session.add(run)
    await session.flush()
    await audit.record(
        session,
        principal,
        "run",
        "case",
        case.id,
        case.project_id,
        {"after": {"scenario_run_id": run.id, "trigger": run.trigger}},
    )
    return run


def rows_of_case_run(run: ScenarioRun) -> int:
    return len(run.dataset_ids or []) or 1


# ---- reading ---------------------------------------------------------------------------------------
async def run_visibility(session: AsyncSession, principal: Principal) -> ColumnElement[bool]:
    """Runs of projects the caller belongs to, minus runs of scenarios or cases it may not see."""
    if principal.is_site_admin:
        return true()
    member_ids = [pid for pid, role in (await principal.roles(session)).items() if role]
    scenarios = select(TestScenario.id).where(await principal.visible_filter(session, TestScenario))
    cases = select(ApiRequest.id).where(await principal.visible_filter(session, ApiRequest))
    return and_(
        ScenarioRun.project_id.in_(member_ids),
        or_(ScenarioRun.scenario_id.is_(None), ScenarioRun.scenario_id.in_(scenarios)),
        or_(ScenarioRun.case_id.is_(None), ScenarioRun.case_id.in_(cases)),
    )


async def get_run(session: AsyncSession, principal: Principal, run_id: int, action: str = "read") -> ScenarioRun:
    run = await session.scalar(
        select(ScenarioRun).where(ScenarioRun.id == run_id, await run_visibility(session, principal))
    )
    if run is None:
        raise NotFound(f"scenario run {run_id} not found")
    if action != "read":
        role = await principal.role_in(session, run.project_id)
        if not at_least(role, "runner"):
            raise Forbidden(f"your role in project {run.project_id} is '{role}'; runners and above may do this")
    return run


def run_read(run: ScenarioRun) -> dict[str, Any]:
    fields = {column: getattr(run, column) for column in ScenarioRun.__table__.columns.keys()}
    finished = run.finished_at
    counted = run.iterations_passed + run.iterations_failed + run.iterations_error
    fields["iterations"] = {
        "total": run.iterations_total,
        "passed": run.iterations_passed,
        "failed": run.iterations_failed,
        "error": run.iterations_error,
        "flaky": run.iterations_flaky,
        # Not run to the end: not yet, or never (cancelled, timed out, interrupted, setup failed).
        "not_run": max(0, (run.iterations_total or 0) - counted),
    }
    fields["requests"] = {
        # Final results recorded (a retried step counts once); flaky is part of passed.
        "total": run.requests_passed + run.requests_failed + run.requests_error + run.requests_skipped,
        "passed": run.requests_passed,
        "failed": run.requests_failed,
        "error": run.requests_error,
        "skipped": run.requests_skipped,
        "flaky": run.requests_flaky,
    }
    fields["duration_ms"] = (finished - run.started_at).total_seconds() * 1000 if finished and run.started_at else None
    return fields


async def cancel_run(session: AsyncSession, principal: Principal, run_id: int) -> ScenarioRun:
    run = await get_run(session, principal, run_id, "run")
    if run.status in FINISHED:
        raise Conflict(f"scenario run {run.id} already ended ({run.status})", code="run_finished")
    # A queued run is cancelled outright; a running one is told through the database and stops itself.
    now = utcnow()
    cancelled = await session.execute(
        update(ScenarioRun)
        .where(ScenarioRun.id == run.id, ScenarioRun.status == RunStatus.QUEUED)
        .values(status=RunStatus.CANCELLED, cancel_requested=True, finished_at=now, error="cancelled before it started")
    )
    if cancelled.rowcount:  # type: ignore[attr-defined]
        await record_end(session, run.id)  # ended here: recorded with the cancel
    await session.execute(update(ScenarioRun).where(ScenarioRun.id == run.id).values(cancel_requested=True))
    # A sharded run's chunks still waiting are cancelled here; the running ones see the flag like a run does.
    await session.execute(
        update(ScenarioRunChunk)
        .where(ScenarioRunChunk.run_id == run.id, ScenarioRunChunk.status == RunStatus.QUEUED)
        .values(status=RunStatus.CANCELLED, finished_at=now, error="cancelled before it started")
    )
    await audit.record(session, principal, "cancel", "scenario_run", run.id, run.project_id)
    await session.flush()
    await session.refresh(run)
    return run


async def not_passed_iterations(session: AsyncSession, run: ScenarioRun) -> list[int]:
    """Iterations of `run` that did not pass, including those that never ran (cancelled, interrupted)."""
    universe = list(run.only_iterations) if run.only_iterations else list(range(run.iterations_total or 1))
    final = ApiRequestRun.scenario_run_id == run.id, ApiRequestRun.is_final.is_(True), ApiRequestRun.iteration >= 0
    ran = set(await session.scalars(select(ApiRequestRun.iteration).where(*final).distinct()))
    bad = set(
        await session.scalars(
            select(ApiRequestRun.iteration).where(*final, ApiRequestRun.status.in_(FAILING)).distinct()
        )
    )
    passed = ran - bad
    if run.status in (RunStatus.PASSED, RunStatus.FAILED) and not ran:  # setup failed: nothing ran
        return universe
    return [index for index in universe if index not in passed]


async def rerun(session: AsyncSession, principal: Principal, run_id: int, data: RerunCreate) -> ScenarioRun:
    original = await get_run(session, principal, run_id, "run")
    if original.status not in FINISHED:
        raise Conflict(f"scenario run {original.id} is still {original.status}; re-run it when it has ended")
    request = {"environment_id": original.environment_id, "variables": original.variables}
    if original.kind == "case":
        if original.case_id is None:
            raise Conflict("the case of this run was deleted")
        dataset_ids = original.dataset_ids
        if data.only == "failed" and dataset_ids:
            failed = set(
                await session.scalars(
                    select(ApiRequestRun.dataset_id)
                    .where(
                        ApiRequestRun.scenario_run_id == original.id,
                        ApiRequestRun.is_final.is_(True),
                        ApiRequestRun.status.in_(FAILING),
                    )
                    .distinct()
                )
            )
            dataset_ids = [d for d in dataset_ids if d in failed]
            if not dataset_ids:
                raise Conflict(f"nothing to re-run: every dataset of run {original.id} passed", code="nothing_to_rerun")
        elif data.only == "failed" and original.status == RunStatus.PASSED:
            raise Conflict(f"nothing to re-run: run {original.id} passed", code="nothing_to_rerun")
        return await start_case_run(
            session, principal, original.case_id, CaseRunCreate(**request, dataset_ids=dataset_ids), rerun_of=original
        )
    if original.scenario_id is None:
        raise Conflict("the scenario of this run was deleted")
    only = await not_passed_iterations(session, original) if data.only == "failed" else None
    if only is not None and not only:
        raise Conflict(f"nothing to re-run: every iteration of run {original.id} passed", code="nothing_to_rerun")
    body = ScenarioRunCreate(**request, concurrency=(original.settings or {}).get("concurrency"), trigger="manual")
    return await start_scenario_run(session, principal, original.scenario_id, body, only, rerun_of=original)


async def request_runs_query(
    session: AsyncSession, principal: Principal, *, filters: Iterable[ColumnElement[bool]], case_id: int | None = None
) -> Any:
    if case_id is not None:
        visible = await _case_history_visibility(session, principal, case_id)
        return (
            select(ApiRequestRun).where(visible, ApiRequestRun.case_id == case_id, *filters).order_by(ApiRequestRun.id)
        )
    visible_runs = select(ScenarioRun.id).where(await run_visibility(session, principal))
    return (
        select(ApiRequestRun)
        .where(ApiRequestRun.scenario_run_id.in_(visible_runs), *filters)
        .order_by(ApiRequestRun.id)
    )


async def _case_history_visibility(session: AsyncSession, principal: Principal, case_id: int) -> ColumnElement[bool]:
    """Which of one case's request runs the caller may see, without joining its whole history to the runs.

    Steps only use cases of their own project, so every run of the case is a run of the case's project: the
    caller sees them as a member of it, except the runs of scenarios (and one-case runs of cases) it may not
    see, which are few and usually none. A join over a busy case's history cost seconds on MariaDB.
    """
    project_id = await session.scalar(select(ApiRequest.project_id).where(ApiRequest.id == case_id))
    if project_id is None:
        return false()
    if principal.is_site_admin:
        return true()
    if await principal.role_in(session, project_id) is None:
        return false()
    hidden_scenarios = list(
        await session.scalars(
            select(TestScenario.id).where(
                TestScenario.project_id == project_id, not_(await principal.visible_filter(session, TestScenario))
            )
        )
    )
    hidden_cases = list(
        await session.scalars(
            select(ApiRequest.id).where(
                ApiRequest.project_id == project_id, not_(await principal.visible_filter(session, ApiRequest))
            )
        )
    )
    if not hidden_scenarios and not hidden_cases:
        return true()
    hidden_runs = select(ScenarioRun.id).where(
        or_(ScenarioRun.scenario_id.in_(hidden_scenarios), ScenarioRun.case_id.in_(hidden_cases))
    )
    return ApiRequestRun.scenario_run_id.not_in(hidden_runs)


async def get_request_run(session: AsyncSession, principal: Principal, request_run_id: int) -> ApiRequestRun:
    statement = await request_runs_query(session, principal, filters=[ApiRequestRun.id == request_run_id])
    found = await session.scalar(statement)
    if found is None:
        raise NotFound(f"request run {request_run_id} not found")
    return found
