"""The database side of suggested assertions and failure explanations: the facts, read with the caller's rights.

A request run is found the way `GET /request-runs/{id}` finds it (app.runs.service: 404 when the caller may not
see it). Around a failed run: the last passing run of the same step (same scenario, or the same case for one-case
runs; same step_key, case and dataset; the same iteration preferred), the attempts of its step in its run, and the
failure cluster it belongs to (app.reports, over the reports' default window of 7 days; signature only when that
window holds more than MAX_CLUSTERED failures).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ai.explain import AttemptFacts, ClusterFacts, FailureFacts, ResponseFacts
from app.ai.suggest_assertions import MAX_RESPONSES, RecordedResponse
from app.auth.principal import Principal
from app.core.errors import InvalidInput, NotFound
from app.engine.statuses import FAILING, ResultStatus
from app.engine.transport import NOT_JSON
from app.models import ApiRequestRun, ScenarioRun
from app.models.base import utcnow
from app.reports import repository as reports_repository
from app.reports.clustering import Failure, cluster_failures, cluster_key, signature

# The reports' own reading and labelling: a run's cluster is labelled exactly as the clusters report labels it.
from app.reports.service import CLUSTER_RUN_IDS, Window, failures_in, label_of
from app.runs import service as runs_service

MAX_CLUSTERED = 10_000  # failures clustered to find a run's cluster (about 0.4 s); more: its signature only
CLUSTER_WINDOW = timedelta(days=7)  # the failure-clusters report's default window
MAX_ATTEMPTS_READ = 200


def _response(run: ApiRequestRun) -> ResponseFacts | None:
    recorded = RecordedResponse.from_snapshot(run.response) if isinstance(run.response, dict) else None
    if recorded is None:
        return None
    document = recorded.json
    body = recorded.body if document is NOT_JSON else document
    return ResponseFacts(recorded.status, recorded.header_map(), body if recorded.body else None)


def _attempt(run: ApiRequestRun, environment_id: int | None) -> AttemptFacts:
    request = run.request if isinstance(run.request, dict) else {}
    return AttemptFacts(
        request_run_id=run.id,
        status=str(run.status),
        error=run.error,
        assertions=[check for check in run.assertions or [] if isinstance(check, dict)],
        method=request.get("method") if isinstance(request.get("method"), str) else None,
        url=request.get("url") if isinstance(request.get("url"), str) else None,
        response=_response(run),
        duration_ms=float(run.duration_ms) if run.duration_ms is not None else None,
        environment_id=environment_id,
    )


def _same_subject(scenario_run: ScenarioRun) -> ColumnElement[bool]:
    if scenario_run.scenario_id is not None:
        return ScenarioRun.scenario_id == scenario_run.scenario_id
    return and_(ScenarioRun.scenario_id.is_(None), ScenarioRun.case_id == scenario_run.case_id)


async def last_pass(
    session: AsyncSession, principal: Principal, run: ApiRequestRun, scenario_run: ScenarioRun
) -> tuple[ApiRequestRun, int | None] | None:
    """The last passing run of the same step and dataset before `run` (its iteration preferred), with its
    environment, among the runs the caller may see."""
    conditions = [
        await runs_service.run_visibility(session, principal),
        _same_subject(scenario_run),
        ApiRequestRun.step_key == run.step_key,
        ApiRequestRun.dataset_id.is_(None) if run.dataset_id is None else ApiRequestRun.dataset_id == run.dataset_id,
        ApiRequestRun.status == ResultStatus.PASSED,
        ApiRequestRun.id < run.id,
    ]
    if run.case_id is not None:
        conditions.append(ApiRequestRun.case_id == run.case_id)
    statement = (
        select(ApiRequestRun, ScenarioRun.environment_id)
        .join(ScenarioRun, ScenarioRun.id == ApiRequestRun.scenario_run_id)
        .where(*conditions)
        .order_by(ApiRequestRun.id.desc())
        .limit(1)
    )
    # A data row changes what a step sends and gets: the same iteration (row) first, then any.
    for where in ([ApiRequestRun.iteration == run.iteration], []):
        found = (await session.execute(statement.where(*where))).first()
        if found is not None:
            return found[0], found[1]
    return None


async def _attempts(session: AsyncSession, run: ApiRequestRun) -> tuple[int, bool]:
    """How many attempts of this step this iteration pass recorded, and whether a later one passed."""
    rows = await session.execute(
        select(ApiRequestRun.id, ApiRequestRun.iteration_attempt, ApiRequestRun.status)
        .where(
            ApiRequestRun.scenario_run_id == run.scenario_run_id,
            ApiRequestRun.step_key == run.step_key,
            ApiRequestRun.iteration == run.iteration,
            ApiRequestRun.dataset_id.is_(None)
            if run.dataset_id is None
            else ApiRequestRun.dataset_id == run.dataset_id,
        )
        .order_by(ApiRequestRun.id)
        .limit(MAX_ATTEMPTS_READ)
    )
    attempts, passed_later = 0, False
    for row_id, iteration_attempt, status in rows:
        attempts += iteration_attempt == run.iteration_attempt
        passed_later |= row_id > run.id and status == ResultStatus.PASSED
    return max(attempts, 1), passed_later


async def cluster_of(
    session: AsyncSession, principal: Principal, run: ApiRequestRun, scenario_run: ScenarioRun
) -> ClusterFacts | None:
    """The failure cluster of a failed run, as `GET /projects/{id}/failure-clusters` shows it (over the same
    default window when the run is in it); its signature alone when the window holds too many failures."""
    if run.status not in FAILING:
        return None
    status_code = run.response.get("status") if isinstance(run.response, dict) else None
    own = Failure(
        request_run_id=run.id,
        scenario_run_id=run.scenario_run_id,
        scenario_id=scenario_run.scenario_id,
        case_id=run.case_id,
        step_key=run.step_key,
        status=str(run.status),
        status_code=status_code if isinstance(status_code, int) else None,
        error=run.error,
        assertions=list(run.assertions or []),
        started_at=run.started_at,
    )
    own_signature = signature(own)
    alone = ClusterFacts(id=cluster_key(own_signature), signature=own_signature)
    now = utcnow()
    created = scenario_run.created_at
    span = (
        Window(now - CLUSTER_WINDOW, now)
        if created >= now - CLUSTER_WINDOW
        else Window(created - CLUSTER_WINDOW, created + timedelta(milliseconds=1))
    )
    project_id = scenario_run.project_id
    hidden = await reports_repository.hidden_in(session, principal, project_id)
    failures, retried = await failures_in(session, project_id, span, None, hidden, MAX_CLUSTERED + 1)
    if len(failures) > MAX_CLUSTERED:
        return alone
    for cluster in cluster_failures(failures, max_ids=CLUSTER_RUN_IDS):
        if run.id in cluster.member_ids:
            label = await label_of(session, project_id, cluster, failures, retried, hidden)
            return ClusterFacts(id=cluster.key, signature=cluster.signature, size=cluster.size, label=label)
    return alone


async def gather(session: AsyncSession, principal: Principal, request_run_id: int) -> FailureFacts:
    """Everything `explain` reads about a request run; 404 when the caller may not see it."""
    run = await runs_service.get_request_run(session, principal, request_run_id)
    scenario_run = await session.get(ScenarioRun, run.scenario_run_id)
    if scenario_run is None:  # deleted since: as if never seen
        raise NotFound(f"request run {request_run_id} not found")
    found = await last_pass(session, principal, run, scenario_run)
    attempts, passed_later = await _attempts(session, run)
    return FailureFacts(
        run=_attempt(run, scenario_run.environment_id),
        name=run.name,
        last_pass=_attempt(*found) if found is not None else None,
        cluster=await cluster_of(session, principal, run, scenario_run),
        attempt=run.attempt,
        attempts=attempts,
        passed_later=passed_later,
        flaky=run.flaky,
    )


async def recorded_responses(
    session: AsyncSession, principal: Principal, request_run_ids: Sequence[int], *, field: str = "request_run_ids"
) -> list[RecordedResponse]:
    """The recorded responses of request runs of one case, in the order given (duplicates once).

    Suggested assertions go on the case, which every step using it runs: runs of different cases are refused
    (422 naming `field`), as are runs that recorded no response; a run the caller may not see is a 404.
    """
    ids = list(dict.fromkeys(request_run_ids))
    if not ids:
        raise InvalidInput("give at least one request run", loc=["body", field])
    if len(ids) > MAX_RESPONSES:
        raise InvalidInput(f"give at most {MAX_RESPONSES} request runs (got {len(ids)})", loc=["body", field])
    statement = await runs_service.request_runs_query(session, principal, filters=[ApiRequestRun.id.in_(ids)])
    found = {row.id: row for row in await session.scalars(statement)}
    for request_run_id in ids:
        if request_run_id not in found:
            raise NotFound(f"request run {request_run_id} not found")
    cases = {found[i].case_id for i in ids}
    if None in cases:
        orphan = next(i for i in ids if found[i].case_id is None)
        raise InvalidInput(f"request run {orphan} belongs to no case (it was deleted)", loc=["body", field])
    if len(cases) > 1:
        by_case = ", ".join(f"run {i}: case {found[i].case_id}" for i in ids[:10])
        raise InvalidInput(
            f"the request runs must all be runs of one case, to suggest assertions for it ({by_case})",
            loc=["body", field],
        )
    responses = []
    single = field != "request_run_ids"
    for index, request_run_id in enumerate(ids):
        run = found[request_run_id]
        recorded = (
            RecordedResponse.from_snapshot(run.response, run.duration_ms) if isinstance(run.response, dict) else None
        )
        if recorded is None:
            why = f"{run.status}: {run.error}" if run.error else str(run.status)
            loc: list[str | int] = ["body", field] if single else ["body", field, index]
            raise InvalidInput(f"request run {request_run_id} recorded no response ({why[:300]})", loc=loc)
        responses.append(recorded)
    return responses
