"""`GET /scenario-runs/{id}/report?format=json|junit|html`: the same reporters as `exile run`, streamed."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep, get_session_factory
from app.core.errors import SIGNED_IN, Conflict, error_responses
from app.core.schemas import PathId
from app.engine.statuses import ACTIVE
from app.interop import report_source
from app.interop.reports import REPORTERS, html
from app.runs import service as runs

router = APIRouter(tags=["reports"], responses=error_responses(*SIGNED_IN))

ReportFormatName = Literal["json", "junit", "html"]


def report_links(request: Request, run_id: int) -> dict[str, str]:
    base = str(request.base_url).rstrip("/")
    links = {"run": f"{base}/api/v1/scenario-runs/{run_id}"}
    links.update({name: f"{base}/api/v1/scenario-runs/{run_id}/report?format={name}" for name in REPORTERS})
    return links


@router.get(
    "/scenario-runs/{run_id}/report",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The report, streamed as it is written",
            "content": {"application/json": {}, "application/xml": {}, "text/html": {}},
        },
        **error_responses(404, 409),
    },
)
async def run_report(
    run_id: PathId,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    format: Annotated[ReportFormatName, Query(description="json (Newman-like), junit (XML) or html (one page)")],
) -> StreamingResponse:
    """A report of an ended run, for whoever may read the run.

    A queued or running run answers 409 `run_not_finished`: a report's totals, its per-step counts and its
    records are read in separate queries, and only an ended run keeps them in agreement (CI reads the report
    once the run has ended; the live counts are at GET /scenario-runs/{id}).
    """
    run = await runs.get_run(session, principal, run_id)
    if run.status in ACTIVE:
        raise Conflict(
            f"scenario run {run.id} is still {run.status}; its report can be read once it has ended "
            f"(GET /api/v1/scenario-runs/{run.id} shows its live counts)",
            code="run_not_finished",
        )
    summary = await report_source.report_run(session, run, report_links(request, run.id))
    await session.rollback()  # nothing to write (and `run` is expired now); the stream reads in its own sessions
    chosen = REPORTERS[format]
    headers = {
        "Content-Disposition": f'attachment; filename="exile-run-{run_id}.{chosen.extension}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    if format == "html":
        headers["Content-Security-Policy"] = html.CSP
    body = report_source.stream_report(chosen.write, summary, get_session_factory())
    return StreamingResponse(body, media_type=chosen.media_type, headers=headers)
