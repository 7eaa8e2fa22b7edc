from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field, HttpUrl, field_validator

from app.auth.dependencies import CurrentPrincipal
from app.core.db import SessionDep
from app.core.errors import SIGNED_IN, WITH_BODY, error_responses
from app.core.schemas import PathId, QueryId
from app.reports import service

router = APIRouter(tags=["reports"], responses=error_responses(*SIGNED_IN, 404, 422))

Since = Annotated[datetime | None, Query(description="Start of the window (ISO 8601; naive times are UTC).")]
Until = Annotated[datetime | None, Query(description="End of the window (default: now).")]


@router.get("/projects/{project_id}/trends")
async def trends(
    project_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    scenario_id: QueryId = None,
    case_id: QueryId = None,
    environment_id: QueryId = None,
    since: Since = None,
    until: Until = None,
    bucket: Literal["hour", "day", "week"] = "day",
) -> dict[str, Any]:
    """Per bucket: runs by final status, requests by status, pass rate and p50/p95/p99 durations.

    Read from the roll-ups each run's end writes, so it costs the same at a million runs as at ten. Windows
    default to 2 days (hour), 30 days (day) or 26 weeks (week); at most 31 days of hours or 400 days.
    """
    return await service.trends(
        session,
        principal,
        project_id,
        scenario_id=scenario_id,
        case_id=case_id,
        environment_id=environment_id,
        since=since,
        until=until,
        bucket=bucket,
    )


@router.get("/scenario-runs/{run_id}/compare")
async def compare(
    run_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    with_id: Annotated[QueryId, Query(alias="with", description="Default: the last passed run before it.")] = None,
) -> dict[str, Any]:
    """Step by step against another run: newly failing, fixed, still failing, new, removed, unchanged; with
    the checks whose outcome changed and a structural diff of the response bodies (ids and times ignored)."""
    return await service.compare(session, principal, run_id, with_id)


@router.get("/projects/{project_id}/failure-clusters")
async def failure_clusters(
    project_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    since: Since = None,
    until: Until = None,
    scenario_id: QueryId = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The window's failures (default: 7 days) grouped by cause: same failing check, status class and
    normalised message, then similar messages merged. Labels: new, known or flaky."""
    return await service.failure_clusters(
        session, principal, project_id, since=since, until=until, scenario_id=scenario_id, limit=limit
    )


TICKET_URL_MAX = 2048


class ClusterLabelSet(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    ticket_url: HttpUrl | None = Field(default=None, description="A link to the ticket tracking the cause.")

    @field_validator("ticket_url")
    @classmethod
    def _fits_the_column(cls, url: HttpUrl | None) -> HttpUrl | None:
        # Checked after normalisation: punycode and percent-encoding can make the stored form longer than the input.
        if url is not None and len(str(url)) > TICKET_URL_MAX:
            raise ValueError(f"must be at most {TICKET_URL_MAX} characters once normalised")
        return url


@router.put(
    "/projects/{project_id}/failure-clusters/{cluster_id}",
    responses=error_responses(*WITH_BODY, 403),
)
async def label_cluster(
    project_id: PathId,
    cluster_id: Annotated[str, Path(pattern=r"^[0-9a-f]{8,32}$", description="The cluster's id.")],
    body: ClusterLabelSet,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Name a cluster and link its ticket: kept across later computations by the cluster's stable id."""
    label = await service.label_cluster(
        session, principal, project_id, cluster_id, body.name, str(body.ticket_url) if body.ticket_url else None
    )
    await session.commit()
    return {"id": label.cluster_key, "name": label.name, "ticket_url": label.ticket_url, "updated_at": label.updated_at}


@router.get("/projects/{project_id}/flaky")
async def flaky(
    project_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    since: Since = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Cases (per scenario) ranked by how often they passed only on a retry or flipped between runs."""
    return await service.flaky(session, principal, project_id, since=since, limit=limit)


@router.get("/projects/{project_id}/hotspots")
async def hotspots(
    project_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    since: Since = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    """The slowest cases by p95 and the most failing, each against the previous period of the same length."""
    return await service.hotspots(session, principal, project_id, since=since, limit=limit)


@router.get("/projects/{project_id}/dashboard")
async def dashboard(project_id: PathId, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """One screen: totals, each scenario's latest run, 7- and 30-day pass rates, top failure clusters,
    flakiest cases and slowest endpoints."""
    return await service.dashboard(session, principal, project_id)
