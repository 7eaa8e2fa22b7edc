"""Report roll-ups: what each finished run adds to its hour and its day, written in the run's ending transaction.

A run is counted once: `ScenarioRun.rolled_up` is claimed by the same conditional UPDATE that counts it, so a
retried finish, the reaper and a rebuild never add a run twice. Counters are added with an upsert
(`x = x + new`), so concurrent runs ending in the same bucket do not overwrite each other. Durations are kept
as log-scale histograms (`duration_bin`) whose counts add up, so any bucket range gives percentiles.

`rebuild` recomputes the roll-ups from the raw rows (after a migration, or to check them): the same function
that counts a run at its end counts it there, so both give identical rows (a test compares them).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, delete, false, func, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.engine.statuses import FINISHED, ResultStatus, RunStatus
from app.models import ApiRequestRun, Project, ReportRollup, ReportRollupDuration, ScenarioRun
from app.models.base import utcnow
from app.models.report import ROLLUP_KEY

# Weeks (ISO, Monday) let a month-long report read 4 week rows per key and a few day rows at its edges.
GRANULARITIES = ("hour", "day", "week")
RUN_COUNTERS = tuple(f"runs_{status}" for status in FINISHED)
REQUEST_COUNTERS = (*(f"requests_{status}" for status in ResultStatus), "requests_flaky")
COUNTERS = (*RUN_COUNTERS, *REQUEST_COUNTERS, "flips", "compared", "duration_sum_us", "duration_count")
# Eight bins per doubling: a bin's middle is within 4.5 % of every duration in it.
BINS_PER_DOUBLING = 8
MAX_BIN = 32_000
# Runs whose steps can be compared with the run before (an error or a cancel says nothing about the steps).
COMPARABLE = (RunStatus.PASSED, RunStatus.FAILED)
REBUILD_BATCH = 200
UPSERT_ROWS = 400
STREAM_ROWS = 5000  # results read (and summed) at a time at a run's end

Key = tuple[int, str, datetime, str, int, int, int]


def covering(start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    """Day-aligned [start, end) as (granularity, from, to) pieces: whole weeks as week rows, the edges as days."""
    first_week = bucket_start(start + timedelta(days=6), "week")
    last_week = bucket_start(end, "week")
    if first_week >= last_week:
        return [("day", start, end)]
    pieces = [("day", start, first_week), ("week", first_week, last_week), ("day", last_week, end)]
    return [(granularity, lo, hi) for granularity, lo, hi in pieces if lo < hi]


def bucket_start(moment: datetime, granularity: str) -> datetime:
    """The start of the UTC hour, day or ISO week (Monday) `moment` falls in."""
    moment = moment.astimezone(UTC)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "day":
        return day
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    raise ValueError(f"unknown bucket '{granularity}'")


def duration_bin(ms: float) -> int:
    if not ms or ms < 1 or math.isnan(ms):
        return 0
    return min(MAX_BIN, int(math.log2(ms) * BINS_PER_DOUBLING) + 1)


def bin_value(bin_: int) -> float:
    """The duration a bin stands for: its geometric middle (0.5 ms for everything under 1 ms)."""
    if bin_ <= 0:
        return 0.5
    return float(2 ** ((bin_ - 0.5) / BINS_PER_DOUBLING))


def percentile(histogram: dict[int, int], fraction: float) -> float | None:
    """Nearest-rank percentile of a histogram, rounded to 0.1 ms (None when it is empty)."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for bin_ in sorted(histogram):
        seen += histogram[bin_]
        if seen >= rank:
            return round(bin_value(bin_), 1)
    return round(bin_value(max(histogram)), 1)  # pragma: no cover - the loop always reaches rank


@dataclass(frozen=True, slots=True)
class RunFacts:
    id: int
    project_id: int
    scenario_id: int | None
    case_id: int | None
    kind: str
    environment_id: int | None
    status: str
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ResultFacts:
    case_id: int | None
    step_key: str
    dataset_id: int | None
    iteration: int
    status: str
    flaky: bool
    duration_ms: float


def _passed(status: str) -> bool | None:
    """Whether a final result passed, for flip counting (None: skipped, which neither passes nor fails)."""
    if status == ResultStatus.SKIPPED:
        return None
    return status == ResultStatus.PASSED


def rollup_rows(
    run: RunFacts, results: Iterable[ResultFacts], previous: Iterable[ResultFacts] | None
) -> tuple[dict[Key, dict[str, int]], dict[tuple[Key, int], int]]:
    """What one run adds: counters per roll-up key and histogram counts per (key, bin). Pure, so the run's
    end and a rebuild cannot disagree.

    Scopes: "run" (per scenario, environment and one-case run's case), "case" (per case within a scenario and
    environment), and their sums "project" and "case_all" (every scenario and environment), which project-wide
    reports read when the caller may see everything: 15-30x fewer rows than summing the others at query time.
    """
    sums = RunSums(outcomes(previous) if previous is not None else None)
    for result in results:
        sums.add(result)
    return sums.rows(run)


Outcomes = dict[tuple[str, int | None, int], bool | None]


def outcomes(results: Iterable[ResultFacts]) -> Outcomes:
    """What flip counting needs of the previous run: whether each step of each iteration passed."""
    return {(r.step_key, r.dataset_id, r.iteration): _passed(r.status) for r in results}


class RunSums:
    """One run's results summed per case as they come (a run's rows are never all in memory at once): the sums
    then go to each roll-up key (3 granularities x 4 scopes), one pass over the results instead of twelve.

    The sinks of a run's parts sum what they store as they store it (`add_values`), so a run's end adds their
    sums instead of reading every result back (80-120 ms of a 2,000-row run's end). A part compares with the
    previous run's outcomes once they are loaded (`compare_with`; the results stored before wait in `unmatched`).
    """

    __slots__ = ("before", "bins_by_case", "by_case", "unmatched", "usable")

    def __init__(self, before: Outcomes | None, *, comparing_later: bool = False) -> None:
        self.before = before or {}
        self.by_case: dict[int, dict[str, int]] = {}
        self.bins_by_case: dict[int, dict[int, int]] = {}
        self.unmatched: list[tuple[int, tuple[str, int | None, int], bool]] | None = [] if comparing_later else None
        self.usable = True  # False: something was not summed (the run's end reads the results instead)

    def add(self, result: ResultFacts) -> None:
        self.add_values(
            result.case_id, result.step_key, result.dataset_id, result.iteration, result.status, result.flaky,
            result.duration_ms,
        )  # fmt: skip

    def add_values(
        self,
        case_id: int | None,
        step_key: str,
        dataset_id: int | None,
        iteration: int,
        status: str,
        flaky: bool,
        duration_ms: float,
    ) -> None:
        case_key = case_id or 0
        sums = self.by_case.get(case_key)
        if sums is None:
            sums = self.by_case[case_key] = dict.fromkeys(REQUEST_COUNTERS + _RESULT_COUNTERS, 0)
            self.bins_by_case[case_key] = defaultdict(int)
        sums[f"requests_{status}"] += 1
        if flaky:
            sums["requests_flaky"] += 1
        if status != ResultStatus.SKIPPED:
            sums["duration_sum_us"] += round(duration_ms * 1000)
            sums["duration_count"] += 1
            self.bins_by_case[case_key][duration_bin(duration_ms)] += 1
        now_passed = _passed(status)
        if now_passed is None:
            return
        if self.unmatched is not None:
            self.unmatched.append((case_key, (step_key, dataset_id, iteration), now_passed))
        else:
            self._compare(sums, self.before.get((step_key, dataset_id, iteration)), now_passed)

    @staticmethod
    def _compare(sums: dict[str, int], was: bool | None, now_passed: bool) -> None:
        if was is not None:
            sums["compared"] += 1
            if was != now_passed:
                sums["flips"] += 1

    def compare_with(self, before: Outcomes) -> None:
        """The previous run's outcomes arrived: compare what was summed so far, and from now on as it comes."""
        self.before = before
        for case_key, key, now_passed in self.unmatched or ():
            self._compare(self.by_case[case_key], before.get(key), now_passed)
        self.unmatched = None

    @property
    def complete(self) -> bool:
        """Everything stored was summed and compared: the run's end may use these sums."""
        return self.usable and self.unmatched is None

    def merge(self, other: RunSums) -> None:
        self.usable = self.usable and other.complete
        for case_key, sums in other.by_case.items():
            into = self.by_case.setdefault(case_key, dict.fromkeys(sums, 0))
            for column, value in sums.items():
                into[column] += value
            bins = self.bins_by_case.setdefault(case_key, defaultdict(int))
            for bin_, count in other.bins_by_case[case_key].items():
                bins[bin_] += count

    def totals(self) -> dict[str, int]:
        """Final results per status (and flaky), to check against what the database holds."""
        totals = dict.fromkeys(REQUEST_COUNTERS, 0)
        for sums in self.by_case.values():
            for column in REQUEST_COUNTERS:
                totals[column] += sums[column]
        return totals

    def without_comparison(self) -> None:
        """For a run whose steps are not compared (it ended in error, or was cancelled)."""
        for sums in self.by_case.values():
            sums["compared"] = sums["flips"] = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "usable": self.complete,
            "by_case": {str(case): sums for case, sums in self.by_case.items()},
            "bins": {str(case): {str(b): n for b, n in bins.items()} for case, bins in self.bins_by_case.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSums:
        sums = cls(None)
        sums.usable = bool(data.get("usable"))
        sums.by_case = {int(case): dict(values) for case, values in data.get("by_case", {}).items()}
        sums.bins_by_case = {
            int(case): defaultdict(int, {int(b): n for b, n in bins.items()})
            for case, bins in data.get("bins", {}).items()
        }
        return sums

    def rows(self, run: RunFacts) -> tuple[dict[Key, dict[str, int]], dict[tuple[Key, int], int]]:
        scenario_key = run.scenario_id or 0
        environment_key = run.environment_id or 0
        run_case_key = (run.case_id or 0) if run.kind == "case" else 0
        counters: dict[Key, dict[str, int]] = {}
        histograms: dict[tuple[Key, int], int] = defaultdict(int)

        def row_of(key: Key) -> dict[str, int]:
            row = counters.get(key)
            if row is None:
                row = counters[key] = dict.fromkeys(COUNTERS, 0)
                if run.status in FINISHED:
                    row[f"runs_{run.status}"] = 1
            return row

        for granularity in GRANULARITIES:
            start = bucket_start(run.created_at, granularity)
            run_key: Key = (run.project_id, granularity, start, "run", scenario_key, run_case_key, environment_key)
            project_key: Key = (run.project_id, granularity, start, "project", 0, 0, 0)
            row_of(run_key)
            row_of(project_key)
            for case_key, sums in self.by_case.items():
                case_scoped: Key = (run.project_id, granularity, start, "case", scenario_key, case_key, environment_key)
                case_all: Key = (run.project_id, granularity, start, "case_all", 0, case_key, 0)
                for key in (run_key, project_key, case_scoped, case_all):
                    row = row_of(key)
                    for column, value in sums.items():
                        row[column] += value
                    for bin_, count in self.bins_by_case[case_key].items():
                        histograms[(key, bin_)] += count
        return counters, dict(histograms)


_RESULT_COUNTERS = ("flips", "compared", "duration_sum_us", "duration_count")


# ---- reading the raw rows ---------------------------------------------------------------------------------
_RUN_COLUMNS = (
    ScenarioRun.id,
    ScenarioRun.project_id,
    ScenarioRun.scenario_id,
    ScenarioRun.case_id,
    ScenarioRun.kind,
    ScenarioRun.environment_id,
    ScenarioRun.status,
    ScenarioRun.created_at,
    ScenarioRun.finished_at,
)
_RESULT_COLUMNS = (
    ApiRequestRun.scenario_run_id,
    ApiRequestRun.case_id,
    ApiRequestRun.step_key,
    ApiRequestRun.dataset_id,
    ApiRequestRun.iteration,
    ApiRequestRun.status,
    ApiRequestRun.flaky,
    ApiRequestRun.duration_ms,
)


def previous_run_query(run: RunFacts) -> Any:
    """The run a scenario run's steps are compared with: the last one of the same scenario and environment
    that ended passed or failed before it ended."""
    environment = (
        ScenarioRun.environment_id.is_(None)
        if run.environment_id is None
        else ScenarioRun.environment_id == run.environment_id
    )
    return (
        select(ScenarioRun.id)
        .where(
            ScenarioRun.scenario_id == run.scenario_id,
            environment,
            ScenarioRun.status.in_(COMPARABLE),
            ScenarioRun.finished_at < run.finished_at,
            ScenarioRun.id != run.id,
        )
        .order_by(ScenarioRun.finished_at.desc(), ScenarioRun.id.desc())
        .limit(1)
    )


async def previous_runs(session: AsyncSession, project_id: int) -> dict[int, int]:
    """`previous_run_query` for every run of a project at once (a rebuild would otherwise ask it per run)."""
    groups: dict[tuple[int | None, int | None], tuple[list[datetime], list[int]]] = {}
    previous: dict[int, int] = {}
    rows = await session.execute(
        select(ScenarioRun.id, ScenarioRun.scenario_id, ScenarioRun.environment_id, ScenarioRun.finished_at)
        .where(
            ScenarioRun.project_id == project_id,
            ScenarioRun.scenario_id.is_not(None),
            ScenarioRun.status.in_(COMPARABLE),
            ScenarioRun.finished_at.is_not(None),
        )
        .order_by(ScenarioRun.finished_at, ScenarioRun.id)
    )
    for run_id, scenario_id, environment_id, finished in rows:
        finished_at = cast(datetime, finished)  # not None: filtered above
        times, ids = groups.setdefault((scenario_id, environment_id), ([], []))
        before = bisect.bisect_left(times, finished_at) - 1  # the last one that finished strictly earlier
        if before >= 0:
            previous[run_id] = ids[before]
        times.append(finished_at)
        ids.append(run_id)
    return previous


async def _count_runs(session: AsyncSession, run_ids: Sequence[int], known: dict[int, int] | None = None) -> None:
    """Add runs to the roll-ups; `known` maps runs to their previous ones when the caller has them all."""
    runs = [RunFacts(*row) for row in await session.execute(select(*_RUN_COLUMNS).where(ScenarioRun.id.in_(run_ids)))]
    previous: dict[int, int] = {}
    for run in runs:
        if run.scenario_id is not None and run.status in COMPARABLE and run.finished_at is not None:
            found = known.get(run.id) if known is not None else await session.scalar(previous_run_query(run))
            if found is not None:
                previous[run.id] = found
    # On the session's connection: plain columns need none of the ORM's row loading (a sixth of this read), and
    # streamed a partition at a time: a 100,000-row run's results were 85 MiB in the process that ended it.
    connection = await session.connection()
    before: dict[int, Outcomes] = {run_id: {} for run_id in set(previous.values())}
    if before:
        await _read_outcomes(connection, before, [ApiRequestRun.scenario_run_id.in_(before)])
    sums = {run.id: RunSums(before[previous[run.id]] if run.id in previous else None) for run in runs}
    streamed = await connection.stream(
        select(*_RESULT_COLUMNS).where(ApiRequestRun.scenario_run_id.in_(list(sums)), ApiRequestRun.is_final.is_(True))
    )
    async for partition in streamed.partitions(STREAM_ROWS):
        for row in partition:
            sums[row[0]].add(ResultFacts(*row[1:]))
    counters: dict[Key, dict[str, int]] = {}
    histograms: dict[tuple[Key, int], int] = defaultdict(int)
    for run in runs:
        run_counters, run_histograms = sums[run.id].rows(run)
        for key, values in run_counters.items():
            into = counters.setdefault(key, dict.fromkeys(COUNTERS, 0))
            for column, value in values.items():
                into[column] += value
        for bin_key, count in run_histograms.items():
            histograms[bin_key] += count
    await _upsert(session, counters, histograms)


async def _upsert(
    session: AsyncSession, counters: dict[Key, dict[str, int]], histograms: dict[tuple[Key, int], int]
) -> None:
    dialect = session.get_bind().dialect.name
    # Sorted: concurrent ends touching the same keys take their row locks in one order (no deadlock).
    counter_rows = [dict(zip(ROLLUP_KEY, key, strict=True), **values) for key, values in sorted(counters.items())]
    histogram_rows = [
        dict(zip(ROLLUP_KEY, key, strict=True), bin=bin_, count=count)
        for (key, bin_), count in sorted(histograms.items())
    ]
    for model, rows, added in (
        (ReportRollup, counter_rows, COUNTERS),
        (ReportRollupDuration, histogram_rows, ("count",)),
    ):
        if not rows:
            continue
        # One statement executed over many rows: compiled once and cached (a multi-VALUES statement is compiled
        # anew for each batch, which cost more than the database's work), sent by the driver's executemany.
        statement = _adding_upsert(dialect, cast(Table, model.__table__), added)
        for start in range(0, len(rows), UPSERT_ROWS):
            await session.execute(statement, rows[start : start + UPSERT_ROWS])


@functools.cache
def _adding_upsert(dialect: str, table: Table, added: tuple[str, ...]) -> Any:
    key = [*ROLLUP_KEY, "bin"] if "bin" in table.c else list(ROLLUP_KEY)
    if dialect in ("mysql", "mariadb"):
        on_mysql = mysql_insert(table)
        return on_mysql.on_duplicate_key_update({c: table.c[c] + on_mysql.inserted[c] for c in added})
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c[c] for c in key], set_={c: table.c[c] + statement.excluded[c] for c in added}
    )


# ---- the run's end ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SummedPart:
    """What a part of a run (all of it, a chunk, setup or teardown) sums as its sink stores: the iterations it
    covers, [first, end) (None: unbounded; setup and teardown are iteration -1), and the run it compares with."""

    previous_run_id: int | None
    first: int | None = None
    end: int | None = None


async def previous_run_now(session: AsyncSession, run_id: int) -> int | None:
    """The run a run starting now would be compared with, were it to end now (the end checks it still is)."""
    facts = (await session.execute(select(*_RUN_COLUMNS).where(ScenarioRun.id == run_id))).one_or_none()
    if facts is None or facts.scenario_id is None:
        return None
    found = await session.scalar(previous_run_query(dataclasses.replace(RunFacts(*facts), finished_at=utcnow())))
    return int(found) if found is not None else None


async def previous_outcomes(session: AsyncSession, part: SummedPart) -> Outcomes:
    """The previous run's outcomes within a part's iterations (a chunk loads its own share, as it runs)."""
    if part.previous_run_id is None:
        return {}
    where = [ApiRequestRun.scenario_run_id == part.previous_run_id]
    if part.first is not None:
        where.append(ApiRequestRun.iteration >= part.first)
    if part.end is not None:
        where.append(ApiRequestRun.iteration < part.end)
    before: dict[int, Outcomes] = {part.previous_run_id: {}}
    await _read_outcomes(await session.connection(), before, where)
    return before[part.previous_run_id]


async def _read_outcomes(connection: AsyncConnection, into: dict[int, Outcomes], where: list[Any]) -> None:
    """Final results' outcomes per run (`into` names the runs), streamed a partition at a time."""
    streamed = await connection.stream(
        select(ApiRequestRun.scenario_run_id, ApiRequestRun.step_key, ApiRequestRun.dataset_id)
        .add_columns(ApiRequestRun.iteration, ApiRequestRun.status)
        .where(*where, ApiRequestRun.is_final.is_(True))
    )
    async for partition in streamed.partitions(STREAM_ROWS):
        for run_id, step_key, dataset_id, iteration, status in partition:
            into[run_id][(step_key, dataset_id, iteration)] = _passed(status)


async def record_run(
    session: AsyncSession, run_id: int, sums: RunSums | None = None, compared_with: int | None = None
) -> bool:
    """Count a run that just ended, in the caller's transaction (False: not ended, or already counted).

    `sums`: what the run's sinks summed as they stored, compared with run `compared_with`; used when they hold
    (every final result the database has, per status, and the run the end compares with), else the results
    are read back."""
    claimed = await session.execute(
        update(ScenarioRun)
        .where(ScenarioRun.id == run_id, ScenarioRun.rolled_up.is_(False), ScenarioRun.status.in_(FINISHED))
        .values(rolled_up=True)
        .execution_options(synchronize_session=False)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return False
    if sums is not None and sums.complete:
        run = RunFacts(*(await session.execute(select(*_RUN_COLUMNS).where(ScenarioRun.id == run_id))).one())
        if await _sums_hold(session, run, sums, compared_with):
            await _upsert(session, *sums.rows(run))
            return True
    await _count_runs(session, [run_id])
    return True


async def stored_final_counts(session: AsyncSession, run_id: int) -> dict[str, int]:
    """A run's final results as stored, as its requests_<status> and requests_flaky columns: one scan."""
    counts = dict.fromkeys(REQUEST_COUNTERS, 0)
    for status, flaky, count in await session.execute(
        select(ApiRequestRun.status, ApiRequestRun.flaky, func.count())
        .where(ApiRequestRun.scenario_run_id == run_id, ApiRequestRun.is_final.is_(True))
        .group_by(ApiRequestRun.status, ApiRequestRun.flaky)
    ):
        counts[f"requests_{status}"] += count
        if flaky:
            counts["requests_flaky"] += count
    return counts


async def _sums_hold(session: AsyncSession, run: RunFacts, sums: RunSums, compared_with: int | None) -> bool:
    if await stored_final_counts(session, run.id) != sums.totals():
        return False
    if run.scenario_id is None or run.status not in COMPARABLE or run.finished_at is None:
        sums.without_comparison()
        return True
    return await session.scalar(previous_run_query(run)) == compared_with


async def record_runs_ended_at(session: AsyncSession, finished_at: datetime) -> int:
    """For a bulk end (the reaper's UPDATE): count the runs it just ended with `finished_at`."""
    run_ids = list(
        await session.scalars(
            select(ScenarioRun.id).where(
                ScenarioRun.finished_at == finished_at,
                ScenarioRun.status.in_(FINISHED),
                ScenarioRun.rolled_up.is_(False),
            )
        )
    )
    return sum([await record_run(session, run_id) for run_id in run_ids])


# ---- rebuilding --------------------------------------------------------------------------------------------
async def rebuild(session_factory: async_sessionmaker[AsyncSession], since: datetime | None = None) -> int:
    """Recompute the roll-ups of runs created since `since` (its day; all when None) from the raw rows.

    Per project, never before the day after its rows were pruned: those buckets' runs are gone, and their
    roll-ups are all that is left of them.
    """
    counted = 0
    async with session_factory() as session:
        projects = list(await session.execute(select(Project.id, Project.rows_pruned_before)))
    for project_id, pruned_before in projects:
        # Week-aligned, so no week row holds runs from both sides of the start: down from `since` (recounting a
        # few more days), up from the prune boundary (whose earlier runs are gone and cannot be recounted).
        starts = [bucket_start(since, "week")] if since is not None else []
        if pruned_before is not None:
            starts.append(bucket_start(bucket_start(pruned_before, "day") + timedelta(days=7), "week"))
        start = max(starts) if starts else None
        async with session_factory() as session:
            window = [ScenarioRun.project_id == project_id]
            if start is not None:
                window.append(ScenarioRun.created_at >= start)
            for model in (ReportRollup, ReportRollupDuration):
                where = [model.project_id == project_id]
                if start is not None:
                    where.append(model.bucket_start >= start)
                await session.execute(delete(model).where(*where))
            await session.execute(
                update(ScenarioRun).where(*window).values(rolled_up=False).execution_options(synchronize_session=False)
            )
            run_ids = list(
                await session.scalars(
                    select(ScenarioRun.id)
                    .where(*window, ScenarioRun.status.in_(FINISHED))
                    .order_by(ScenarioRun.finished_at, ScenarioRun.id)
                )
            )
            known = await previous_runs(session, project_id)
            await session.commit()
        if start is not None:
            # Older runs never counted (ended before the roll-ups existed) are added to their buckets: adding an
            # uncounted run is always right, even where the raw rows of the others are gone.
            async with session_factory() as session:
                run_ids += list(
                    await session.scalars(
                        never_counted()
                        .where(ScenarioRun.project_id == project_id, ScenarioRun.created_at < start)
                        .order_by(ScenarioRun.finished_at, ScenarioRun.id)
                    )
                )
        for first in range(0, len(run_ids), REBUILD_BATCH):
            batch = run_ids[first : first + REBUILD_BATCH]
            async with session_factory() as session:
                await session.execute(
                    update(ScenarioRun)
                    .where(ScenarioRun.id.in_(batch))
                    .values(rolled_up=True)
                    .execution_options(synchronize_session=False)
                )
                await _count_runs(session, batch, known)
                await session.commit()
            counted += len(batch)
    return counted


def never_counted() -> Select[Any]:
    """Finished runs not in the roll-ups (ended before they existed): `exile reports rebuild` counts them."""
    return select(ScenarioRun.id).where(ScenarioRun.status.in_(FINISHED), ScenarioRun.rolled_up == false())
