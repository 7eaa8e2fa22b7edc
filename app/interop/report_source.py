"""A stored run as the reporters read it: its ReportRun, and its final records a page at a time.

The reporters are plain synchronous writers (the same ones `exile run` calls), so the server runs one in a worker
thread: its records come from the database a keyset page at a time (each page a short query on the event loop),
and the bytes it writes go back to the event loop through a small bounded queue. A report of 100,000 records thus
holds one page of records and a few chunks of output at any time, and a slow client slows the writer down.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.engine.results import Counts, StepResult
from app.engine.statuses import ResultStatus
from app.interop.reports import Reporter
from app.interop.reports.common import step_order
from app.interop.reports.model import RecordSource, ReportRun, StepSummary
from app.models import ApiRequest, ApiRequestDataset, ApiRequestRun, ScenarioRun, TestScenario, TestScenarioDataset

logger = logging.getLogger("exile.reports")

PAGE = 500  # records per query
CHUNK = 64 * 1024  # bytes handed to the response at once
QUEUED_CHUNKS = 4  # chunks written ahead of the client at most
NAMES_MAX = 10_000  # data row and dataset names loaded for labels (beyond: labelled by number only)
# Reports being written at once; more wait their turn (each is CPU work in a thread, and holds the GIL while it is).
_writers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="exile-report")

_COLUMNS = (
    ApiRequestRun.id,
    ApiRequestRun.step_key,
    ApiRequestRun.case_id,
    ApiRequestRun.step_id,
    ApiRequestRun.dataset_id,
    ApiRequestRun.iteration,
    ApiRequestRun.attempt,
    ApiRequestRun.iteration_attempt,
    ApiRequestRun.is_final,
    ApiRequestRun.flaky,
    ApiRequestRun.status,
    ApiRequestRun.started_at,
    ApiRequestRun.duration_ms,
    ApiRequestRun.request,
    ApiRequestRun.dataset,
    ApiRequestRun.response,
    ApiRequestRun.error,
    ApiRequestRun.assertions,
    ApiRequestRun.extracted,
    ApiRequestRun.name,
)


async def step_summaries(session: AsyncSession, run_id: int) -> list[StepSummary]:
    """Per-step counts and time over the run's final records (one GROUP BY), in flow order."""
    flaky = func.sum(case((ApiRequestRun.flaky.is_(True), 1), else_=0))
    rows = await session.execute(
        select(
            ApiRequestRun.step_key,
            ApiRequestRun.status,
            func.count(),
            flaky,
            func.sum(ApiRequestRun.duration_ms),
            func.max(ApiRequestRun.name),
        )
        .where(ApiRequestRun.scenario_run_id == run_id, ApiRequestRun.is_final.is_(True))
        .group_by(ApiRequestRun.step_key, ApiRequestRun.status)
    )
    steps: dict[str, StepSummary] = {}
    for key, status, count, flaky_count, duration, name in rows:
        step = steps.setdefault(key, StepSummary(key=key, name=name or ""))
        if status in tuple(ResultStatus):
            setattr(step.counts, status, getattr(step.counts, status) + int(count))
        step.counts.flaky += int(flaky_count or 0)
        step.duration_ms += float(duration or 0.0)
        step.name = max(step.name, name or "")
    return sorted(steps.values(), key=lambda step: step_order(step.key))


async def _title(session: AsyncSession, run: ScenarioRun) -> str:
    if run.scenario_id is not None:
        name = await session.scalar(select(TestScenario.name).where(TestScenario.id == run.scenario_id))
        if name:
            return name
    if run.case_id is not None:
        name = await session.scalar(select(ApiRequest.name).where(ApiRequest.id == run.case_id))
        if name:
            return name
    return f"{run.kind} run {run.id}"


async def _dataset_names(session: AsyncSession, run_id: int) -> dict[int, str]:
    used = (
        select(ApiRequestRun.dataset_id)
        .where(ApiRequestRun.scenario_run_id == run_id, ApiRequestRun.dataset_id.is_not(None))
        .distinct()
    )
    rows = await session.execute(
        select(ApiRequestDataset.id, ApiRequestDataset.name).where(ApiRequestDataset.id.in_(used)).limit(NAMES_MAX)
    )
    return {dataset_id: name for dataset_id, name in rows if name}


async def _row_names(session: AsyncSession, run: ScenarioRun) -> dict[int, str]:
    """Iteration -> its data row's name: iteration i ran the i-th row in (position, id) order.

    Only while the scenario is unchanged since the run was created: rows replaced later would put other names
    on these iterations (a label that lies is worse than a number).
    """
    if run.kind != "scenario" or run.scenario_id is None:
        return {}
    updated_at = await session.scalar(select(TestScenario.updated_at).where(TestScenario.id == run.scenario_id))
    if updated_at is None or updated_at > run.created_at:
        return {}
    names = await session.scalars(
        select(TestScenarioDataset.name)
        .where(TestScenarioDataset.scenario_id == run.scenario_id)
        .order_by(TestScenarioDataset.position, TestScenarioDataset.id)
        .limit(NAMES_MAX)
    )
    return {index: name for index, name in enumerate(names) if name}


async def report_run(session: AsyncSession, run: ScenarioRun, links: dict[str, str] | None = None) -> ReportRun:
    """The run's summary; requests are counted from the same GROUP BY as the steps, so the two always agree."""
    steps = await step_summaries(session, run.id)
    requests = Counts()
    for step in steps:
        for status in ResultStatus:
            setattr(requests, status, getattr(requests, status) + getattr(step.counts, status))
        requests.flaky += step.counts.flaky
    counted = run.iterations_passed + run.iterations_failed + run.iterations_error
    iterations = Counts(
        passed=run.iterations_passed,
        failed=run.iterations_failed,
        error=run.iterations_error,
        skipped=max(0, (run.iterations_total or 0) - counted),  # not run to the end (as the run's `not_run`)
        flaky=run.iterations_flaky,
    )
    return ReportRun(
        title=await _title(session, run),
        run_id=run.id,
        status=str(run.status),
        started_at=run.started_at or run.created_at,
        finished_at=run.finished_at,
        requests=requests,
        iterations=iterations,
        steps=steps,
        error=run.error,
        ci={"trigger": run.trigger, **(run.ci or {})},
        links=dict(links or {}),
        dataset_names=await _dataset_names(session, run.id),
        row_names=await _row_names(session, run),
    )


def _result(row: Any) -> StepResult:
    (
        _id, step_key, case_id, step_id, dataset_id, iteration, attempt, iteration_attempt, is_final, flaky, status,
        started_at, duration_ms, request, dataset, response, error, assertions, extracted, name,
    ) = row  # fmt: skip
    return StepResult(
        step_key, case_id, step_id, dataset_id, iteration, attempt, iteration_attempt, is_final, flaky, status,
        started_at, duration_ms, request, dataset, response, error, assertions or [], extracted or {}, name,
    )  # fmt: skip


async def record_page(
    sessions: async_sessionmaker[AsyncSession], run_id: int, step_key: str, after: tuple[int, int]
) -> tuple[list[StepResult], tuple[int, int]]:
    """The next page of a step's final records after (iteration, id), and where the page ends.

    Keyset paging on the (scenario_run_id, iteration) index: each page is a short query in its own session, so
    no transaction or cursor stays open while a slow client reads.
    """
    iteration, last_id = after
    query = (
        select(*_COLUMNS)
        .where(
            ApiRequestRun.scenario_run_id == run_id,
            ApiRequestRun.step_key == step_key,
            ApiRequestRun.is_final.is_(True),
            or_(
                ApiRequestRun.iteration > iteration,
                and_(ApiRequestRun.iteration == iteration, ApiRequestRun.id > last_id),
            ),
        )
        .order_by(ApiRequestRun.iteration, ApiRequestRun.id)
        .limit(PAGE)
    )
    async with sessions() as session:  # Core, not the ORM: plain rows, no identity map to fill
        rows = (await (await session.connection()).execute(query)).all()
    if not rows:
        return [], after
    last = rows[-1]
    return [_result(row) for row in rows], (last.iteration, last.id)


class _Abandoned(Exception):
    """The client went away: the writer thread stops at its next write or page."""


class _ChunkWriter(io.RawIOBase):
    """What a reporter writes into: gathers CHUNK bytes, then hands them to the event loop (waiting when full)."""

    def __init__(self, send: Callable[[bytes], None]) -> None:
        self._send = send
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            chunk, self._buffer = bytes(self._buffer), bytearray()
            self._send(chunk)


async def stream_report(
    reporter: Reporter, run: ReportRun, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[bytes]:
    """The report's bytes as the reporter writes them, with the records read from the database as it asks."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=QUEUED_CHUNKS)
    stop = threading.Event()
    run_id = run.run_id
    assert run_id is not None

    # These run in the writer thread: each hands a coroutine to the event loop (and `send` waits for it).
    def send(item: bytes | BaseException | None) -> None:
        if stop.is_set():
            raise _Abandoned
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def fetch(step_key: str, after: tuple[int, int]) -> Future[tuple[list[StepResult], tuple[int, int]]]:
        if stop.is_set():
            raise _Abandoned
        return asyncio.run_coroutine_threadsafe(record_page(sessions, run_id, step_key, after), loop)

    def records() -> Iterator[StepResult]:
        for step in run.steps:
            coming = fetch(step.key, (-(2**31), 0))
            while True:
                page, after = coming.result()
                if len(page) == PAGE:  # the next page is read while this one is written
                    coming = fetch(step.key, after)
                yield from page
                if len(page) < PAGE:
                    break

    source: RecordSource = records

    def work() -> None:
        out = _ChunkWriter(send)
        try:
            reporter(out, run, source)  # type: ignore[arg-type]  # a RawIOBase is the BinaryIO it writes to
            out.flush()
            send(None)
        except _Abandoned:
            pass
        except BaseException as error:  # the response has begun: log it, and break the stream off there
            logger.exception("report of run %s failed while it was written", run_id)
            with contextlib.suppress(_Abandoned):
                send(error)

    writer = loop.run_in_executor(_writers, work)
    try:
        while True:
            item = await queue.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not queue.empty():  # frees a writer waiting to put, so it sees `stop` at its next step
            queue.get_nowait()
        await writer
