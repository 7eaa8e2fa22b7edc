"""Reports: trends, run-vs-run comparison, failure clusters, flaky steps, hotspots and the dashboard.

Trends, rankings and the dashboard's figures come from the roll-ups (app.reports.rollups), so they cost
O(buckets) rows at any history size; clustering and comparison read raw rows of a bounded window or two runs.
No report call writes anything (a user naming a cluster does).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal, require_project
from app.core.errors import InvalidInput, NotFound
from app.engine.statuses import FAILING
from app.models import (
    ApiRequest,
    FailureClusterLabel,
    Project,
    TestScenario,
)
from app.models.base import utcnow
from app.reports import repository
from app.reports.clustering import Cluster, Failure, cluster_failures
from app.reports.json_diff import json_diff
from app.reports.normalise import is_volatile
from app.reports.repository import Hidden, RollupFilter
from app.reports.rollups import RUN_COUNTERS, bucket_start, percentile
from app.runs import service as runs

MAX_WINDOW_DAYS = 400
MAX_HOUR_WINDOW_DAYS = 31
BUCKET_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
DEFAULT_WINDOW = {"hour": timedelta(days=2), "day": timedelta(days=30), "week": timedelta(weeks=26)}
COMPARE_DETAIL_LIMIT = 200
CLUSTER_RUN_IDS = 20
SNAPSHOT_FRESH = timedelta(minutes=10)
DASHBOARD_TOP = 5


# ---- windows -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Window:
    since: datetime
    until: datetime


def _scope(hidden: Hidden, by_case: bool, scenario_id: int | None = None, environment_id: int | None = None) -> str:
    """The roll-up rows to read: the pre-summed ones ("project", "case_all") when nothing is filtered by scenario
    or environment and the caller may see everything; else the ones the filters and visibility apply to."""
    summed = hidden.nothing and scenario_id is None and environment_id is None
    if by_case:
        return "case_all" if summed else "case"
    return "project" if summed else "run"


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def window(
    since: datetime | None, until: datetime | None, default: timedelta, max_days: int = MAX_WINDOW_DAYS
) -> Window:
    """The asked window (naive times are UTC), checked: since before until, at most `max_days` long."""
    end = _aware(until) or utcnow()
    start = _aware(since) or end - default
    if start >= end:
        raise InvalidInput(
            f"since ({start.isoformat()}) must be before until ({end.isoformat()})", loc=["query", "since"]
        )
    if end - start > timedelta(days=max_days):
        raise InvalidInput(f"the window from since to until may cover at most {max_days} days", loc=["query", "since"])
    return Window(start, end)


def _rates(row: dict[str, Any]) -> dict[str, Any]:
    passed, failed, error = (int(row.get(f"requests_{s}") or 0) for s in ("passed", "failed", "error"))
    skipped, flaky = int(row.get("requests_skipped") or 0), int(row.get("requests_flaky") or 0)
    runs_by_status = {status.removeprefix("runs_"): int(row.get(status) or 0) for status in RUN_COUNTERS}
    decided = passed + failed + error
    count = int(row.get("duration_count") or 0)
    return {
        "runs": {"total": sum(runs_by_status.values()), **runs_by_status},
        "requests": {
            "total": decided + skipped,
            "passed": passed,
            "failed": failed,
            "error": error,
            "skipped": skipped,
            "flaky": flaky,
        },
        "pass_rate": round(passed / decided, 4) if decided else None,
        "mean_ms": round(int(row.get("duration_sum_us") or 0) / count / 1000, 1) if count else None,
    }


def _durations(histogram: dict[int, int]) -> dict[str, float | None]:
    return {name: percentile(histogram, q) for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}


def _add(into: dict[str, Any], row: dict[str, Any]) -> None:
    for column, value in row.items():
        if column != "bucket_start" and isinstance(value, int | float):
            into[column] = into.get(column, 0) + value


def _merge_histogram(into: dict[int, int], other: dict[int, int]) -> None:
    for bin_, count in other.items():
        into[bin_] = into.get(bin_, 0) + count


async def _pruned(session: AsyncSession, project_id: int) -> dict[str, Any]:
    project = await session.get(Project, project_id)
    return {
        "rows_pruned_before": project.rows_pruned_before if project else None,
        "bodies_pruned_before": project.bodies_pruned_before if project else None,
    }


# ---- trends ------------------------------------------------------------------------------------------------
async def trends(
    session: AsyncSession,
    principal: Principal,
    project_id: int,
    *,
    scenario_id: int | None,
    case_id: int | None,
    environment_id: int | None,
    since: datetime | None,
    until: datetime | None,
    bucket: str,
) -> dict[str, Any]:
    await require_project(session, principal, project_id, "read")
    span = window(since, until, DEFAULT_WINDOW[bucket], MAX_HOUR_WINDOW_DAYS if bucket == "hour" else MAX_WINDOW_DAYS)
    hidden = await repository.hidden_in(session, principal, project_id)
    if (scenario_id in hidden.scenarios) or (case_id in hidden.cases):
        raise NotFound(f"{'scenario' if scenario_id in hidden.scenarios else 'case'} not found in project {project_id}")
    first = bucket_start(span.since, bucket)
    where = RollupFilter(
        project_id=project_id,
        granularity=bucket,
        scope=_scope(hidden, case_id is not None, scenario_id, environment_id),
        start=first,
        end=span.until,
        scenario_id=scenario_id,
        case_id=case_id,
        environment_id=environment_id,
        hidden=hidden,
    )
    sums: dict[datetime, dict[str, Any]] = defaultdict(dict)
    for row in await repository.rollup_sums(session, where, ["bucket_start"]):
        _add(sums[bucket_start(row["bucket_start"], bucket)], row)
    durations: dict[datetime, dict[int, int]] = defaultdict(dict)
    for (start,), histogram in (await repository.histograms(session, where, ["bucket_start"])).items():
        _merge_histogram(durations[bucket_start(start, bucket)], histogram)
    buckets = []
    start = first
    while start < span.until:
        end = start + BUCKET_STEP[bucket]
        buckets.append(
            {
                "start": start,
                "end": end,
                **_rates(sums.get(start, {})),
                "duration_ms": _durations(durations.get(start, {})),
            }
        )
        start = end
    return {
        "project_id": project_id,
        "bucket": bucket,
        "since": span.since,
        "until": span.until,
        "filters": {"scenario_id": scenario_id, "case_id": case_id, "environment_id": environment_id},
        "buckets": buckets,
        **await _pruned(session, project_id),
    }


# ---- comparison --------------------------------------------------------------------------------------------
def _failing(status: str | None) -> bool:
    return status in FAILING


def _change(before: Any | None, after: Any | None) -> str:
    if before is None:
        return "new"
    if after is None:
        return "removed"
    was, now = _failing(before.status), _failing(after.status)
    if was and now:
        return "still_failing"
    if now:
        return "newly_failing"
    if was:
        return "fixed"
    return "unchanged"


def _body(response: Any) -> Any:
    if not isinstance(response, dict):
        return None
    body = response.get("body")
    if isinstance(body, str):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
    return body


def _assertion_changes(before: Any, after: Any) -> list[dict[str, Any]]:
    """Checks whose outcome or (non-volatile) actual value differs, matched by source, expression and op."""

    def keyed(checks: Any) -> dict[tuple[Any, ...], dict[str, Any]]:
        found: dict[tuple[Any, ...], dict[str, Any]] = {}
        for check in checks if isinstance(checks, list) else []:
            if isinstance(check, dict):
                found.setdefault((check.get("source"), check.get("expression"), check.get("op")), check)
        return found

    old, new = keyed(before), keyed(after)
    changes = []
    for key in list(dict.fromkeys([*old, *new])):
        first, second = old.get(key), new.get(key)
        if first and second:
            same_actual = first.get("actual") == second.get("actual") or (
                is_volatile(key[1], first.get("actual")) and is_volatile(key[1], second.get("actual"))
            )
            if first.get("passed") == second.get("passed") and same_actual:
                continue
        changes.append(
            {
                "source": key[0],
                "expression": key[1],
                "op": key[2],
                "before": {"passed": first.get("passed"), "actual": first.get("actual")} if first else None,
                "after": {"passed": second.get("passed"), "actual": second.get("actual")} if second else None,
            }
        )
    return changes


def _result_brief(row: Any | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"request_run_id": row.id, "status": row.status, "duration_ms": round(float(row.duration_ms), 3)}


async def compare(session: AsyncSession, principal: Principal, run_id: int, with_id: int | None) -> dict[str, Any]:
    run = await runs.get_run(session, principal, run_id)
    if with_id is not None:
        other = await runs.get_run(session, principal, with_id)
    else:
        found = await repository.last_passed_before(session, run)
        if found is None:
            raise NotFound(
                f"scenario run {run_id} has no earlier passed run of the same "
                f"{'scenario' if run.scenario_id else 'case'} and environment to compare with; give one as ?with="
            )
        other = found
    key = lambda row: (row.step_key, row.dataset_id, row.iteration)  # noqa: E731
    before = {key(row): row for row in await repository.final_results(session, other.id)}
    after = {key(row): row for row in await repository.final_results(session, run.id)}
    keys = sorted(set(before) | set(after), key=lambda k: (k[0], k[1] or 0, k[2]))
    items: list[tuple[Any, Any, Any, str]] = []
    counts: dict[str, int] = dict.fromkeys(
        ("newly_failing", "fixed", "still_failing", "new", "removed", "unchanged"), 0
    )
    for item_key in keys:
        old, new = before.get(item_key), after.get(item_key)
        change = _change(old, new)
        counts[change] += 1
        items.append((item_key, old, new, change))
    # Details (bodies and checks) for the pairs present on both sides, changed ones first, at most a bounded few.
    both = [entry for entry in items if entry[1] is not None and entry[2] is not None]
    both.sort(key=lambda entry: entry[3] == "unchanged")
    detailed = both[:COMPARE_DETAIL_LIMIT]
    loaded = await repository.details(session, [i for _, old, new, _ in detailed for i in (old.id, new.id)])
    differences = []
    body_changed = 0
    for (step_key, dataset_id, iteration), old, new, change in items:
        entry: dict[str, Any] = {
            "step_key": step_key,
            "dataset_id": dataset_id,
            "iteration": iteration,
            "name": (new or old).name,
            "case_id": (new or old).case_id,
            "change": change,
            "before": _result_brief(old),
            "after": _result_brief(new),
            "duration_change_ms": round(float(new.duration_ms) - float(old.duration_ms), 3) if old and new else None,
            "assertions": [],
            "body_diff": [],
        }
        if old is not None and new is not None and old.id in loaded and new.id in loaded:
            (old_response, old_checks), (new_response, new_checks) = loaded[old.id], loaded[new.id]
            entry["assertions"] = _assertion_changes(old_checks, new_checks)
            entry["body_diff"] = json_diff(_body(old_response), _body(new_response))
            body_changed += bool(entry["body_diff"])
        if change != "unchanged" or entry["assertions"] or entry["body_diff"]:
            differences.append(entry)
    return {
        "run_id": run.id,
        "with_run_id": other.id,
        "summary": {**counts, "body_changed": body_changed, "compared_in_detail": len(detailed)},
        "differences": differences[:1000],
        "differences_total": len(differences),
        **await _pruned(session, run.project_id),
    }


# ---- failure clusters ----------------------------------------------------------------------------------------
async def failures_in(
    session: AsyncSession,
    project_id: int,
    span: Window,
    scenario_id: int | None,
    hidden: Hidden,
    limit: int | None = None,
) -> tuple[list[Failure], set[int]]:
    """The window's failures (at most `limit`), and the ids of those that were retried attempts (not the
    step's final result)."""
    failures, retried = [], set()
    statement = repository.failures_query(project_id, span.since, span.until, scenario_id, hidden)
    # Fetched whole (bounded by the window): streaming row by row cost a greenlet switch per row. On the session's
    # connection, not through the ORM: plain columns need none of its row loading (a fifth of a 50k-row fetch).
    connection = await session.connection()
    for row in (await connection.execute(statement if limit is None else statement.limit(limit))).all():
        failures.append(
            Failure(
                request_run_id=row[0],
                scenario_run_id=row[1],
                scenario_id=row[2],
                case_id=row[3],
                step_key=row[4],
                status=row[5],
                status_code=row[6],
                error=row[7],
                assertions=row[8] if isinstance(row[8], list) else [],
                started_at=_aware(row[9]) or span.since,
            )
        )
        if not row[10]:
            retried.add(row[0])
    return failures, retried


async def _passes_between(
    session: AsyncSession, project_id: int, clusters: list[Cluster], hidden: Hidden
) -> dict[str, int]:
    """Per cluster: passed results of its cases in its scenarios between its first and last failure (hourly).

    One query for all clusters: the hourly case roll-ups of their cases over the span of all of them."""
    spans = {}
    for cluster in clusters:
        start = bucket_start(cluster.first_seen, "hour") + timedelta(hours=1)
        end = bucket_start(cluster.last_seen, "hour")
        if end > start and cluster.case_ids:
            spans[cluster.key] = (start, end, set(cluster.case_ids[:20]), set(cluster.scenario_ids))
    if not spans:
        return {}
    case_ids = sorted(set().union(*(cases for _, _, cases, _ in spans.values())))
    where = RollupFilter(
        project_id,
        "hour",
        "case",
        min(start for start, *_ in spans.values()),
        max(end for _, end, *_ in spans.values()),
        hidden=hidden,
    )
    by_case: dict[int, list[tuple[datetime, int, int]]] = defaultdict(list)
    for moment, scenario_key, case_key, count in await repository.passes_by_hour(session, where, case_ids):
        by_case[case_key].append((moment, scenario_key, count))
    passed: dict[str, int] = defaultdict(int)
    for key, (start, end, cases, scenarios) in spans.items():
        for case_key in cases:
            for moment, scenario_key, count in by_case.get(case_key, ()):
                if start <= moment < end and (not scenarios or scenario_key in scenarios):
                    passed[key] += count
    return passed


async def failure_clusters(
    session: AsyncSession,
    principal: Principal,
    project_id: int,
    *,
    since: datetime | None,
    until: datetime | None,
    scenario_id: int | None,
    limit: int = 50,
) -> dict[str, Any]:
    await require_project(session, principal, project_id, "read")
    span = window(since, until, timedelta(days=7))
    hidden = await repository.hidden_in(session, principal, project_id)
    return await _clusters(session, project_id, span, scenario_id, hidden, limit)


async def _clusters(
    session: AsyncSession, project_id: int, span: Window, scenario_id: int | None, hidden: Hidden, limit: int
) -> dict[str, Any]:
    failures, retried = await failures_in(session, project_id, span, scenario_id, hidden)
    clusters = cluster_failures(failures, max_ids=CLUSTER_RUN_IDS)
    members = {failure.request_run_id: failure for failure in failures}
    green = await repository.last_passed_at(
        session, project_id, sorted({s for cluster in clusters[:limit] for s in cluster.scenario_ids})
    )
    labels = {
        row.cluster_key: row
        for row in await session.scalars(
            select(FailureClusterLabel).where(
                FailureClusterLabel.project_id == project_id,
                FailureClusterLabel.cluster_key.in_([c.key for c in clusters[:limit]]),
            )
        )
    }
    passes = await _passes_between(session, project_id, clusters[:limit], hidden)
    out = []
    for cluster in clusters[:limit]:
        label = _label(cluster, members, retried, green, passes.get(cluster.key, 0))
        given = labels.get(cluster.key)
        out.append(
            {
                "id": cluster.key,
                "signature": cluster.signature,
                "size": cluster.size,
                "first_seen": cluster.first_seen,
                "last_seen": cluster.last_seen,
                "label": label,
                "name": given.name if given else None,
                "ticket_url": given.ticket_url if given else None,
                "case_ids": cluster.case_ids,
                "scenario_ids": cluster.scenario_ids,
                "request_run_ids": cluster.request_run_ids,
                "request_runs_total": cluster.total,
                "example": cluster.example,
            }
        )
    return {
        "project_id": project_id,
        "since": span.since,
        "until": span.until,
        "failures": len(failures),
        "clusters_total": len(clusters),
        "clusters": out,
        **await _pruned(session, project_id),
    }


async def label_of(
    session: AsyncSession, project_id: int, cluster: Cluster, failures: list[Failure], retried: set[int], hidden: Hidden
) -> str:
    """One cluster's label, exactly as the clusters report labels it."""
    members = {failure.request_run_id: failure for failure in failures}
    green = await repository.last_passed_at(session, project_id, cluster.scenario_ids)
    passes = await _passes_between(session, project_id, [cluster], hidden)
    return _label(cluster, members, retried, green, passes.get(cluster.key, 0))


def _label(
    cluster: Cluster, members: dict[int, Failure], retried: set[int], green: dict[int, datetime], passes_between: int
) -> str:
    """flaky: most of it passed on a retry, or its steps passed between its failures; new: it first showed
    after its scenarios' last fully passed run; else known."""
    ids = cluster.member_ids
    if ids and sum(1 for i in ids if i in retried) * 2 >= len(ids):
        return "flaky"
    if passes_between:
        return "flaky"
    last_green = [green[s] for s in cluster.scenario_ids if s in green]
    if last_green and cluster.first_seen > max(last_green):
        return "new"
    if not last_green and cluster.scenario_ids:
        return "new"  # never green: everything it shows is new
    return "known"


async def label_cluster(
    session: AsyncSession,
    principal: Principal,
    project_id: int,
    cluster_key: str,
    name: str | None,
    ticket_url: str | None,
) -> FailureClusterLabel:
    await require_project(session, principal, project_id, "run")
    label = await session.scalar(
        select(FailureClusterLabel).where(
            FailureClusterLabel.project_id == project_id, FailureClusterLabel.cluster_key == cluster_key
        )
    )
    if label is None:
        label = FailureClusterLabel(project_id=project_id, cluster_key=cluster_key)
        session.add(label)
    label.name, label.ticket_url = name, ticket_url
    label.updated_by_id, label.updated_at = principal.user.id, utcnow()
    await session.flush()
    await audit.record(
        session, principal, "label", "failure_cluster", label.id, project_id, {"name": name, "ticket_url": ticket_url}
    )
    return label


# ---- flaky and hotspots ------------------------------------------------------------------------------------
async def flaky(
    session: AsyncSession, principal: Principal, project_id: int, *, since: datetime | None, limit: int = 50
) -> dict[str, Any]:
    await require_project(session, principal, project_id, "read")
    span = window(since, None, timedelta(days=30))
    hidden = await repository.hidden_in(session, principal, project_id)
    return {
        "project_id": project_id,
        "since": span.since,
        "until": span.until,
        "items": await _flaky_items(session, project_id, span, hidden, limit),
    }


async def _flaky_items(
    session: AsyncSession, project_id: int, span: Window, hidden: Hidden, limit: int
) -> list[dict[str, Any]]:
    where = RollupFilter(project_id, "days", "case", bucket_start(span.since, "day"), span.until, hidden=hidden)
    rows = await repository.rollup_sums(session, where, ["scenario_key", "case_key"])
    items: list[dict[str, Any]] = []
    for row in rows:
        decided = sum(int(row[f"requests_{s}"] or 0) for s in ("passed", "failed", "error"))
        retried, flips, compared = int(row["requests_flaky"] or 0), int(row["flips"] or 0), int(row["compared"] or 0)
        if not decided or not (retried or flips):
            continue
        items.append(
            {
                "scenario_id": row["scenario_key"] or None,
                "case_id": row["case_key"] or None,
                "results": decided,
                "passed_on_retry": retried,
                "flips": flips,
                "compared": compared,
                "flaky_rate": round((retried + flips) / (decided + compared), 4),
                "failed": int(row["requests_failed"] or 0) + int(row["requests_error"] or 0),
            }
        )
    items.sort(key=lambda item: (-item["flaky_rate"], -(item["passed_on_retry"] + item["flips"]), item["case_id"] or 0))
    items = items[:limit]
    await _name(session, items)
    return items


async def _name(session: AsyncSession, items: list[dict[str, Any]]) -> None:
    scenario_names = await repository.names(session, TestScenario, [i.get("scenario_id") or 0 for i in items])
    case_names = await repository.names(session, ApiRequest, [i.get("case_id") or 0 for i in items])
    for item in items:
        if "scenario_id" in item:
            item["scenario_name"] = scenario_names.get(item["scenario_id"] or 0)
        item["case_name"] = case_names.get(item["case_id"] or 0)


async def hotspots(
    session: AsyncSession, principal: Principal, project_id: int, *, since: datetime | None, limit: int = 20
) -> dict[str, Any]:
    await require_project(session, principal, project_id, "read")
    span = window(since, None, timedelta(days=7))
    hidden = await repository.hidden_in(session, principal, project_id)
    current = await _case_figures(session, project_id, span, hidden)
    length = span.until - span.since
    previous = await _case_figures(session, project_id, Window(span.since - length, span.since), hidden)

    def entry(case_id: int, figures: dict[str, Any]) -> dict[str, Any]:
        before = previous.get(case_id)
        p95, old_p95 = figures["p95_ms"], before["p95_ms"] if before else None
        return {
            "case_id": case_id or None,
            **figures,
            "previous": before,
            "p95_change_ms": round(p95 - old_p95, 1) if p95 is not None and old_p95 is not None else None,
            "failures_change": figures["failures"] - (before["failures"] if before else 0),
        }

    slowest = sorted((entry(c, f) for c, f in current.items() if f["p95_ms"] is not None), key=lambda e: -e["p95_ms"])[
        :limit
    ]
    failing = sorted(
        (entry(c, f) for c, f in current.items() if f["failures"]), key=lambda e: (-e["failures"], e["case_id"] or 0)
    )[:limit]
    await _name(session, slowest)
    await _name(session, failing)
    return {
        "project_id": project_id,
        "since": span.since,
        "until": span.until,
        "previous_since": span.since - length,
        "slowest": slowest,
        "most_failing": failing,
    }


async def _case_figures(
    session: AsyncSession, project_id: int, span: Window, hidden: Hidden
) -> dict[int, dict[str, Any]]:
    where = RollupFilter(
        project_id, "days", _scope(hidden, True), bucket_start(span.since, "day"), span.until, hidden=hidden
    )
    histograms = await repository.histograms(session, where, ["case_key"])
    figures = {}
    for row in await repository.rollup_sums(session, where, ["case_key"]):
        decided = sum(int(row[f"requests_{s}"] or 0) for s in ("passed", "failed", "error"))
        histogram = histograms.get((row["case_key"],), {})
        figures[int(row["case_key"])] = {
            "requests": decided,
            "failures": int(row["requests_failed"] or 0) + int(row["requests_error"] or 0),
            "p50_ms": percentile(histogram, 0.5),
            "p95_ms": percentile(histogram, 0.95),
        }
    return figures


# ---- dashboard -----------------------------------------------------------------------------------------------
async def dashboard(session: AsyncSession, principal: Principal, project_id: int) -> dict[str, Any]:
    await require_project(session, principal, project_id, "read")
    hidden = await repository.hidden_in(session, principal, project_id)
    now = utcnow()
    day_rows = RollupFilter(
        project_id,
        "days",
        _scope(hidden, False),
        datetime(1970, 1, 1, tzinfo=UTC),
        now + timedelta(days=1),
        hidden=hidden,
    )
    totals: dict[str, Any] = {}
    for row in await repository.rollup_sums(session, day_rows, []):
        _add(totals, row)

    async def pass_rate(days: int) -> dict[str, Any]:
        where = RollupFilter(
            project_id,
            "days",
            _scope(hidden, False),
            bucket_start(now - timedelta(days=days), "day"),
            now + timedelta(days=1),
            hidden=hidden,
        )
        summed: dict[str, Any] = {}
        for row in await repository.rollup_sums(session, where, []):
            _add(summed, row)
        rates = _rates(summed)
        finished = rates["runs"]["total"]
        return {
            "pass_rate": rates["pass_rate"],
            "run_pass_rate": round(rates["runs"]["passed"] / finished, 4) if finished else None,
            "runs": finished,
        }

    latest = await repository.latest_runs(session, project_id, hidden)
    scenario_names = await repository.names(session, TestScenario, [run.scenario_id or 0 for run in latest])
    week = Window(now - timedelta(days=7), now)
    return {
        "project_id": project_id,
        "totals": _rates(totals),
        "pass_rate_7d": await pass_rate(7),
        "pass_rate_30d": await pass_rate(30),
        "latest_runs": [
            {
                "scenario_id": run.scenario_id,
                "scenario_name": scenario_names.get(run.scenario_id or 0),
                "run_id": run.id,
                "status": run.status,
                "created_at": run.created_at,
                "finished_at": run.finished_at,
            }
            for run in sorted(latest, key=lambda r: r.id, reverse=True)
        ],
        "failure_clusters": await _dashboard_clusters(session, project_id, hidden, week),
        "flaky": await _flaky_items(session, project_id, Window(now - timedelta(days=30), now), hidden, DASHBOARD_TOP),
        "slowest": (await _slowest(session, project_id, week, hidden))[:DASHBOARD_TOP],
    }


async def _slowest(session: AsyncSession, project_id: int, span: Window, hidden: Hidden) -> list[dict[str, Any]]:
    figures = await _case_figures(session, project_id, span, hidden)
    items = [{"case_id": case_id or None, **f} for case_id, f in figures.items() if f["p95_ms"] is not None]
    items.sort(key=lambda item: -item["p95_ms"])
    await _name(session, items[:DASHBOARD_TOP])
    return items


# The dashboard's clusters, per process: (project, what the caller may not see) -> (computed at, payload).
# Clustering a week costs up to a few seconds at scale; a dashboard answers in milliseconds from here.
_cluster_cache: dict[tuple[int, Hidden], tuple[datetime, dict[str, Any]]] = {}
CACHE_LIMIT = 256


async def _dashboard_clusters(session: AsyncSession, project_id: int, hidden: Hidden, week: Window) -> dict[str, Any]:
    """The last 7 days' top clusters, computed at most every SNAPSHOT_FRESH per process (report calls write
    nothing, so this is not stored)."""
    cached = _cluster_cache.get((project_id, hidden))
    if cached is not None and utcnow() - cached[0] < SNAPSHOT_FRESH:
        return cached[1]
    computed = await _clusters(session, project_id, week, None, hidden, DASHBOARD_TOP)
    now = utcnow()
    payload = {"computed_at": now, "since": computed["since"], "clusters": computed["clusters"]}
    if len(_cluster_cache) >= CACHE_LIMIT:
        _cluster_cache.clear()
    _cluster_cache[(project_id, hidden)] = (now, payload)
    return payload
