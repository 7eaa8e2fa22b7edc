"""Plans under /api/v1 (issue 13): /test-plans (CRUD, runs) and /plan-runs (read, cancel, report)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep, get_session_factory
from app.core.errors import SIGNED_IN, WITH_BODY, Conflict, error_responses
from app.core.pagination import Page, PageDep, page_of, paginate
from app.core.schemas import PathId, QueryId, QueryText, Status
from app.interop.reports import REPORTERS, html
from app.models import PlanRun, PlanRunStatus, TestPlan
from app.models.plan import PLAN_ACTIVE
from app.plans import plan_runs, report, service, summary
from app.plans.schemas import PlanCreate, PlanRead, PlanRunCreate, PlanRunRead, PlanUpdate

router = APIRouter(tags=["plans"], responses=error_responses(*SIGNED_IN))


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _read(session: SessionDep, plan_run: PlanRun, request: Request) -> dict[str, Any]:
    live = await plan_runs.live_statuses(session, [plan_run.id])
    return summary.read(plan_run, live, _base(request))


# ---- plans -------------------------------------------------------------------------------------------------
@router.post("/test-plans", response_model=PlanRead, status_code=201, responses=error_responses(*WITH_BODY, 403, 404))
async def create_plan(body: PlanCreate, session: SessionDep, principal: CurrentPrincipal) -> TestPlan:
    """A plan in a project the caller may edit; its selection must come to at least one scenario."""
    plan = await service.create_plan(session, principal, body)
    await session.commit()
    return plan


@router.get("/test-plans", response_model=Page[PlanRead])
async def list_plans(
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    project_id: QueryId = None,
    status: Status | None = None,
    q: Annotated[QueryText, Query(max_length=200, description="text in the name or description")] = None,
) -> dict[str, object]:
    statement = await service.visible_plans(session, principal, project_id=project_id, status=status, text=q)
    return await page_of(session, statement, params)


@router.get("/test-plans/{plan_id}", response_model=PlanRead, responses=error_responses(404))
async def get_plan(plan_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> TestPlan:
    return await service.get_plan(session, principal, plan_id)


@router.patch("/test-plans/{plan_id}", response_model=PlanRead, responses=error_responses(*WITH_BODY, 403, 404, 409))
async def update_plan(plan_id: PathId, body: PlanUpdate, session: SessionDep, principal: CurrentPrincipal) -> TestPlan:
    plan = await service.update_plan(session, principal, plan_id, body)
    await session.commit()
    return plan


@router.delete("/test-plans/{plan_id}", status_code=204, responses=error_responses(403, 404))
async def delete_plan(plan_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> Response:
    """Its runs are kept; a run in flight goes on."""
    await service.delete_plan(session, principal, plan_id)
    await session.commit()
    return Response(status_code=204)


@router.post(
    "/test-plans/{plan_id}/runs",
    response_model=PlanRunRead,
    status_code=202,
    responses=error_responses(*WITH_BODY, 403, 404, 409),
)
async def run_plan(
    plan_id: PathId,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: PlanRunCreate | None = None,
) -> JSONResponse:
    """Start a plan run: one scenario run per selected scenario, `concurrency` at a time, after the commit."""
    body = body or PlanRunCreate()
    ci = body.ci.model_dump(exclude_none=True)
    trigger = {"type": "ci", **ci} if ci else None
    plan_run = await service.start_plan_run(
        session,
        principal,
        plan_id,
        environment_id=body.environment_id,
        variables=body.variables,
        trigger=trigger,
        callback_url=body.callback_url,
    )
    await session.commit()  # its first scenario runs are dispatched as this commits
    read = PlanRunRead.model_validate(summary.read(plan_run, base=_base(request)))
    return JSONResponse(read.model_dump(mode="json"), status_code=202)


# ---- plan runs ---------------------------------------------------------------------------------------------
@router.get("/plan-runs", response_model=Page[PlanRunRead])
async def list_plan_runs(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    params: PageDep,
    plan_id: QueryId = None,
    project_id: QueryId = None,
    status: PlanRunStatus | None = None,
) -> dict[str, object]:
    statement = await plan_runs.plan_runs_query(
        session, principal, plan_id=plan_id, project_id=project_id, status=status
    )
    items, total = await paginate(session, statement, params)
    live = await plan_runs.live_statuses(session, [item.id for item in items if item.status in PLAN_ACTIVE])
    return {
        "items": [summary.read(item, live, _base(request)) for item in items],
        "total": total,
        "page": params.page,
        "page_size": params.page_size,
    }


@router.get("/plan-runs/{plan_run_id}", response_model=PlanRunRead, responses=error_responses(404))
async def get_plan_run(
    plan_run_id: PathId, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Status, summed counts, verdict and each selected scenario with its run."""
    return await _read(session, await plan_runs.get_plan_run(session, principal, plan_run_id), request)


@router.post("/plan-runs/{plan_run_id}/cancel", response_model=PlanRunRead, responses=error_responses(403, 404, 409))
async def cancel_plan_run(
    plan_run_id: PathId, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Cancels every scenario run of it; it ends `cancelled` when the last of them has stopped."""
    await plan_runs.request_cancel(session, principal, plan_run_id)
    await session.commit()  # from here no scenario run of it starts (see plan_runs.request_cancel)
    plan_run = await plan_runs.cancel_children(session, principal, plan_run_id)
    await session.commit()
    return await _read(session, plan_run, request)


@router.get(
    "/plan-runs/{plan_run_id}/report",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The report: JUnit has one testsuite per scenario run",
            "content": {"application/json": {}, "application/xml": {}, "text/html": {}},
        },
        **error_responses(404, 409),
    },
)
async def plan_run_report(
    plan_run_id: PathId,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    format: Annotated[Literal["json", "junit", "html"], Query(description="json, junit (XML) or html")],
) -> StreamingResponse:
    """The report of an ended plan run, by the same reporters as a scenario run's (409 while it runs)."""
    plan_run = await plan_runs.get_plan_run(session, principal, plan_run_id)
    if plan_run.status in PLAN_ACTIVE:
        raise Conflict(
            f"plan run {plan_run.id} is still {plan_run.status}; its report can be read once it has ended "
            f"(GET /api/v1/plan-runs/{plan_run.id} shows its progress)",
            code="run_not_finished",
        )
    summary_run, parts = await report.plan_report(session, plan_run, summary.links(plan_run.id, _base(request)))
    await session.rollback()  # nothing to write; the records are read in sessions of their own
    chosen = REPORTERS[format]
    spool = await report.write_report(chosen.write, summary_run, parts, get_session_factory())
    headers = {
        "Content-Disposition": f'attachment; filename="exile-plan-run-{plan_run_id}.{chosen.extension}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    if format == "html":
        headers["Content-Security-Policy"] = html.CSP
    return StreamingResponse(report.stream_file(spool), media_type=chosen.media_type, headers=headers)
