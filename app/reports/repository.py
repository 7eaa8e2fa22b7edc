"""The SQL of the reports: roll-up sums, a run's final results, a window's failures. Nothing here reads more
rows than its answer needs: trends and rankings read roll-ups, only clustering and comparison read raw rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    FunctionElement,
    Integer,
    Select,
    String,
    and_,
    func,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles

from app.auth.principal import Principal
from app.engine.statuses import FAILING, RunStatus
from app.models import ApiRequest, ApiRequestRun, ReportRollup, ReportRollupDuration, ScenarioRun, TestScenario
from app.reports.rollups import COUNTERS, covering


@dataclass(frozen=True, slots=True)
class Hidden:
    """What of a project the caller may not see (private scenarios and cases of others): left out everywhere."""

    scenarios: tuple[int, ...] = ()
    cases: tuple[int, ...] = ()

    @property
    def nothing(self) -> bool:
        return not self.scenarios and not self.cases


async def hidden_in(session: AsyncSession, principal: Principal, project_id: int) -> Hidden:
    if principal.is_site_admin:
        return Hidden()
    scenarios = await session.scalars(
        select(TestScenario.id).where(
            TestScenario.project_id == project_id, not_(await principal.visible_filter(session, TestScenario))
        )
    )
    cases = await session.scalars(
        select(ApiRequest.id).where(
            ApiRequest.project_id == project_id, not_(await principal.visible_filter(session, ApiRequest))
        )
    )
    return Hidden(tuple(scenarios), tuple(cases))


@dataclass(frozen=True, slots=True)
class RollupFilter:
    project_id: int
    granularity: str  # hour | day | week, or "days": a day-aligned range summed from weeks and days
    scope: str
    start: datetime
    end: datetime  # exclusive
    scenario_id: int | None = None
    case_id: int | None = None
    environment_id: int | None = None
    hidden: Hidden = Hidden()

    def where(self, model: Any) -> list[ColumnElement[bool]]:
        conditions = [model.project_id == self.project_id, model.scope == self.scope]
        if self.granularity == "days":  # a day-aligned range, read as whole weeks and the days at its edges
            conditions.append(
                or_(
                    *(
                        and_(model.granularity == granularity, model.bucket_start >= lo, model.bucket_start < hi)
                        for granularity, lo, hi in covering(self.start, self.end)
                    )
                )
            )
        else:
            conditions += [
                model.granularity == self.granularity,
                model.bucket_start >= self.start,
                model.bucket_start < self.end,
            ]
        for column, value in (
            (model.scenario_key, self.scenario_id),
            (model.case_key, self.case_id),
            (model.environment_key, self.environment_id),
        ):
            if value is not None:
                conditions.append(column == value)
        if self.hidden.scenarios:
            conditions.append(model.scenario_key.not_in(self.hidden.scenarios))
        if self.hidden.cases:
            conditions.append(model.case_key.not_in(self.hidden.cases))
        return conditions


def rollup_sums_query(where: RollupFilter, group_by: Sequence[str]) -> Select[Any]:
    groups = [getattr(ReportRollup, name) for name in group_by]
    sums = [func.sum(getattr(ReportRollup, name)).label(name) for name in COUNTERS]
    return select(*groups, *sums).where(*where.where(ReportRollup)).group_by(*groups)


async def rollup_sums(session: AsyncSession, where: RollupFilter, group_by: Sequence[str]) -> list[dict[str, Any]]:
    """Counter sums per group (e.g. per bucket_start, or per case_key)."""
    rows = []
    for row in await session.execute(rollup_sums_query(where, group_by)):
        values = dict(row._mapping)
        for name in COUNTERS:  # MySQL's SUM gives DECIMAL; PostgreSQL's gives NUMERIC for BIGINT
            value = values[name]
            values[name] = int(value or 0)
        rows.append(values)
    return rows


def histograms_query(where: RollupFilter, group_by: Sequence[str]) -> Select[Any]:
    groups = [getattr(ReportRollupDuration, name) for name in group_by]
    return (
        select(*groups, ReportRollupDuration.bin, func.sum(ReportRollupDuration.count))
        .where(*where.where(ReportRollupDuration))
        .group_by(*groups, ReportRollupDuration.bin)
    )


async def histograms(
    session: AsyncSession, where: RollupFilter, group_by: Sequence[str]
) -> dict[tuple[Any, ...], dict[int, int]]:
    """Duration histograms per group: {group values: {bin: count}}."""
    statement = histograms_query(where, group_by)
    found: dict[tuple[Any, ...], dict[int, int]] = defaultdict(dict)
    for row in await session.execute(statement):
        *group, bin_, count = row
        found[tuple(group)][int(bin_)] = int(count)
    return found


async def passes_by_hour(
    session: AsyncSession, where: RollupFilter, case_ids: Sequence[int]
) -> list[tuple[datetime, int, int, int]]:
    """Passed results per (hour, scenario, case) of these cases, hours with none left out."""
    rows = await session.execute(
        select(
            ReportRollup.bucket_start,
            ReportRollup.scenario_key,
            ReportRollup.case_key,
            func.sum(ReportRollup.requests_passed),
        )
        .where(*where.where(ReportRollup), ReportRollup.case_key.in_(case_ids), ReportRollup.requests_passed > 0)
        .group_by(ReportRollup.bucket_start, ReportRollup.scenario_key, ReportRollup.case_key)
    )
    return [(moment.astimezone(UTC), scenario, case, int(count or 0)) for moment, scenario, case, count in rows]


# ---- raw rows ----------------------------------------------------------------------------------------------
FINAL_RESULT_COLUMNS = (
    ApiRequestRun.id,
    ApiRequestRun.step_key,
    ApiRequestRun.dataset_id,
    ApiRequestRun.iteration,
    ApiRequestRun.name,
    ApiRequestRun.case_id,
    ApiRequestRun.status,
    ApiRequestRun.duration_ms,
)


def final_results_query(run_id: int) -> Any:
    return (
        select(*FINAL_RESULT_COLUMNS)
        .where(ApiRequestRun.scenario_run_id == run_id, ApiRequestRun.is_final.is_(True))
        .order_by(ApiRequestRun.step_key, ApiRequestRun.iteration, ApiRequestRun.id)
    )


async def final_results(session: AsyncSession, run_id: int) -> list[Any]:
    return list(await session.execute(final_results_query(run_id)))


async def details(session: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[Any, Any]]:
    """Response snapshots and assertion results of some request runs: {id: (response, assertions)}."""
    if not ids:
        return {}
    rows = await session.execute(
        select(ApiRequestRun.id, ApiRequestRun.response, ApiRequestRun.assertions).where(ApiRequestRun.id.in_(ids))
    )
    return {row.id: (row.response, row.assertions) for row in rows}


async def last_passed_before(session: AsyncSession, run: ScenarioRun) -> ScenarioRun | None:
    """The run a run is compared with by default: the last passed run of its scenario (or one-case run of
    its case) in the same environment, started before it."""
    same_subject = (
        ScenarioRun.scenario_id == run.scenario_id
        if run.scenario_id is not None
        else and_(ScenarioRun.scenario_id.is_(None), ScenarioRun.case_id == run.case_id)
    )
    environment = (
        ScenarioRun.environment_id.is_(None)
        if run.environment_id is None
        else ScenarioRun.environment_id == run.environment_id
    )
    return await session.scalar(last_passed_before_query(run.id, same_subject, environment))


def last_passed_before_query(run_id: int, *where: ColumnElement[bool]) -> Select[Any]:
    return (
        select(ScenarioRun)
        .where(*where, ScenarioRun.status == RunStatus.PASSED, ScenarioRun.id < run_id)
        .order_by(ScenarioRun.id.desc())
        .limit(1)
    )


def _visible_runs(project_id: int, hidden: Hidden) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [ScenarioRun.project_id == project_id]
    if hidden.scenarios:
        conditions.append(or_(ScenarioRun.scenario_id.is_(None), ScenarioRun.scenario_id.not_in(hidden.scenarios)))
    if hidden.cases:
        conditions.append(or_(ScenarioRun.case_id.is_(None), ScenarioRun.case_id.not_in(hidden.cases)))
    return conditions


RUN_STATUS_INDEX = "ix_api_request_runs_scenario_run_id_status"


class ResponseStatus(FunctionElement[int]):
    """A request run's response status code, read from its JSON snapshot."""

    type = Integer()
    inherit_cache = True
    name = "response_status"


@compiles(ResponseStatus)
def _response_status(element: ResponseStatus, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(ApiRequestRun.response["status"].as_integer(), **kw))


@compiles(ResponseStatus, "mysql")
@compiles(ResponseStatus, "mariadb")
def _response_status_mysql(element: ResponseStatus, compiler: Any, **kw: Any) -> str:
    # One JSON_VALUE: the generic form extracts twice (CASE ... CAST), a quarter of a 50k-failure scan on MariaDB.
    return f"CAST(JSON_VALUE({compiler.process(ApiRequestRun.response, **kw)}, '$.status') AS SIGNED)"


def failures_query(
    project_id: int, since: datetime, until: datetime, scenario_id: int | None, hidden: Hidden
) -> Select[Any]:
    """Every failed or errored attempt (retried ones too: a failure that passed on retry is a flaky one) of
    the window's runs, with only the columns clustering reads."""
    runs = _visible_runs(project_id, hidden)
    runs += [ScenarioRun.created_at >= since, ScenarioRun.created_at < until]
    if scenario_id is not None:
        runs.append(ScenarioRun.scenario_id == scenario_id)
    step_case: ColumnElement[bool] = (
        or_(ApiRequestRun.case_id.is_(None), ApiRequestRun.case_id.not_in(hidden.cases)) if hidden.cases else true()
    )
    return (
        select(
            ApiRequestRun.id,
            ApiRequestRun.scenario_run_id,
            ScenarioRun.scenario_id,
            ApiRequestRun.case_id,
            ApiRequestRun.step_key,
            type_coerce(ApiRequestRun.status, String),  # the plain value: no enum built per row
            ResponseStatus(),
            ApiRequestRun.error,
            ApiRequestRun.assertions,
            type_coerce(ApiRequestRun.started_at, DateTime(timezone=True)),  # made aware once, by the caller
            ApiRequestRun.is_final,
        )
        .join(ScenarioRun, ScenarioRun.id == ApiRequestRun.scenario_run_id)
        .where(*runs, ApiRequestRun.status.in_(FAILING), step_case)
        # MariaDB otherwise walks every request run of the window's runs to find the failed ones (2x slower).
        .with_hint(ApiRequestRun, f"FORCE INDEX ({RUN_STATUS_INDEX})", dialect_name="mysql")
        .with_hint(ApiRequestRun, f"FORCE INDEX ({RUN_STATUS_INDEX})", dialect_name="mariadb")
    )


async def last_passed_at(session: AsyncSession, project_id: int, scenario_ids: Sequence[int]) -> dict[int, datetime]:
    """When each scenario last ran fully green."""
    if not scenario_ids:
        return {}
    rows = await session.execute(
        select(ScenarioRun.scenario_id, func.max(ScenarioRun.finished_at))
        .where(
            ScenarioRun.project_id == project_id,
            ScenarioRun.scenario_id.in_(scenario_ids),
            ScenarioRun.status == RunStatus.PASSED,
        )
        .group_by(ScenarioRun.scenario_id)
    )
    return {int(scenario_id): at for scenario_id, at in rows if at is not None and scenario_id is not None}


async def latest_runs(session: AsyncSession, project_id: int, hidden: Hidden) -> list[ScenarioRun]:
    """The latest run of each scenario of the project."""
    # Per visible scenario, its highest run id, one index probe each (a correlated max): grouping the project's
    # runs read all of them on MariaDB, and PostgreSQL has no loose index scan for a grouped max.
    last_run = select(func.max(ScenarioRun.id)).where(ScenarioRun.scenario_id == TestScenario.id).scalar_subquery()
    visible = select(last_run).where(TestScenario.project_id == project_id)
    if hidden.scenarios:
        visible = visible.where(TestScenario.id.not_in(hidden.scenarios))
    ids = [run_id for run_id in await session.scalars(visible) if run_id is not None]
    return list(await session.scalars(select(ScenarioRun).where(ScenarioRun.id.in_(ids)))) if ids else []


async def names(session: AsyncSession, model: Any, ids: Sequence[int]) -> dict[int, str]:
    wanted = [i for i in set(ids) if i]
    if not wanted:
        return {}
    return {row.id: row.name for row in await session.execute(select(model.id, model.name).where(model.id.in_(wanted)))}
