"""Executes a claimed run with the engine, wherever it runs (API process or Celery worker).

A run is claimed atomically (queued -> running) so a redelivered task or a second worker never runs it
twice; while it runs, heartbeat_at moves and cancel_requested is polled; a run whose heartbeat stops is
ended `interrupted` by the reaper. Whatever happens, a claimed run ends with its real cause: nothing
below leaves it `running` for the reaper except the death of the process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Update, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.callbacks import service as callbacks
from app.core.config import get_settings
from app.core.db import changed_a_row, retried_on_conflict
from app.core.text import bounded
from app.engine.http1 import open_transport
from app.engine.masking import Masker
from app.engine.ratelimit import RateLimiter
from app.engine.results import Counts, FlowOutcome
from app.engine.runner import FlowRunner
from app.engine.specs import FlowSpec, RunOptions
from app.engine.statuses import ACTIVE, RunStatus
from app.models import ScenarioRun, ScenarioRunChunk
from app.models.base import utcnow
from app.reports.rollups import RunSums, SummedPart, previous_outcomes, previous_run_now
from app.runs.ending import record_end, record_ends_at
from app.runs.loader import RunSetupError, load_flow
from app.runs.rate_limit import close_limiter, run_limiter
from app.runs.sink import DatabaseSink

T = TypeVar("T")

logger = logging.getLogger("exile.runs")
ERROR_TEXT_LIMIT = 2000
FINISH_ATTEMPTS = 4


def worker_name(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}"


async def claim(session_factory: async_sessionmaker[AsyncSession], run_id: int, owner: str) -> bool:
    """Take a queued run (False: someone else did); a claim the database rolled back for a conflict is made again."""
    now = utcnow()
    return await changed_a_row(
        session_factory,
        update(ScenarioRun)
        .where(ScenarioRun.id == run_id, ScenarioRun.status == RunStatus.QUEUED)
        .values(status=RunStatus.RUNNING, owner=owner[:200], started_at=now, heartbeat_at=now),
    )


async def finish(
    session_factory: async_sessionmaker[AsyncSession],
    run_id: int,
    status: RunStatus,
    error: str | None,
    outcome: FlowOutcome | None = None,
    sums: RunSums | None = None,
    compared_with: int | None = None,
) -> None:
    """End a running run (with what its sinks summed for the roll-ups, compared with run `compared_with`)."""
    # setup_state: what a sharded run's setup left the chunks, sealed; not kept once the run ended.
    values: dict[str, object] = {
        "status": status,
        "finished_at": utcnow(),
        "error": bounded(error, ERROR_TEXT_LIMIT),
        "setup_state": None,
    }
    if outcome is not None:
        values.update(_iteration_counts(outcome.iterations))
        counted = outcome.iterations.passed + outcome.iterations.failed + outcome.iterations.error
        if (
            status in (RunStatus.PASSED, RunStatus.FAILED) and counted
        ):  # every row ran (setup passed): the rows read are the truth
            values["iterations_total"] = counted

    async def end() -> int | None:
        async with session_factory() as session:
            # Only the owner of a running run ends it: a reaper may already have called it interrupted.
            ended = await session.execute(
                update(ScenarioRun)
                .where(ScenarioRun.id == run_id, ScenarioRun.status == RunStatus.RUNNING)
                .values(**values)
            )
            # Its callback is recorded with its end (one commit), then sent by this process.
            ended_here = bool(ended.rowcount)  # type: ignore[attr-defined]
            delivery = await record_end(session, run_id, sums, compared_with) if ended_here else None
            await session.commit()
            return delivery

    try:
        delivery_id = await retried_at_the_end(end)
    except Exception:
        logger.exception("run %s could not be ended %s", run_id, status)
        return
    if delivery_id is not None:
        await callbacks.deliver(session_factory, delivery_id)


async def retried_at_the_end(work: Callable[[], Awaitable[T]]) -> T:
    """`work`, tried FINISH_ATTEMPTS times with a growing pause (the last error raised): a database hiccup at a
    run's very end must not leave the run to the reaper's wrong cause."""
    for attempt in range(1, FINISH_ATTEMPTS):
        try:
            return await work()
        except Exception:
            await asyncio.sleep(0.25 * 2**attempt)
    return await work()


def _iteration_counts(iterations: Counts) -> dict[str, int]:
    return {
        "iterations_passed": iterations.passed,
        "iterations_failed": iterations.failed,
        "iterations_error": iterations.error,
        "iterations_flaky": iterations.flaky,
    }


def update_owned_chunk(chunk_id: int | None, owner: str | None) -> Update:
    """An UPDATE of a chunk that applies only while the chunk is running and still `owner`'s."""
    return update(ScenarioRunChunk).where(
        ScenarioRunChunk.id == chunk_id,
        ScenarioRunChunk.status == RunStatus.RUNNING,
        ScenarioRunChunk.owner == owner,
    )


class RunPart:
    """One execution of a run, or of a part of one (a sharded run's setup, a chunk, its teardown), here.

    It owns what the execution needs in this process: the sink, the transport, the rate limiter and a
    keep-alive that moves the heartbeat, reports iteration progress and polls for a cancel. A chunk's
    keep-alive beats on the chunk's row (only while it is still this executor's) and on the run's.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        run_id: int,
        flow: FlowSpec,
        options: RunOptions,
        chunk_id: int | None = None,
        owner: str = "",
        reports_progress: bool = True,
        summed: SummedPart | None = None,
    ) -> None:
        settings = get_settings()
        self.session_factory = session_factory
        self.run_id = run_id
        self.flow = flow
        self.options = options
        self.chunk_id = chunk_id
        self.owner = owner[:200]
        self.reports_progress = reports_progress
        self.cancel = asyncio.Event()
        # Set when the run was ended by someone else (the reaper) while this part ran: it must not go on.
        self.ended_elsewhere = asyncio.Event()
        self.sink = DatabaseSink(
            session_factory,
            run_id,
            settings.run_batch_size,
            flush_seconds=settings.run_flush_seconds,
            guard=self._still_mine if chunk_id is not None else None,
        )
        self.runner: FlowRunner | None = None
        self.outcome: FlowOutcome | None = None
        self.failure: str | None = None  # why it ended in error outside the engine (a crash, records not stored)
        self.summed = summed
        if summed is not None:  # the sink sums what it stores for the run's roll-ups
            self.sink.sums = RunSums(None, comparing_later=summed.previous_run_id is not None)

    @property
    def stopped(self) -> bool:
        """Its run (or its chunk) is no longer its to end: deleted, ended by the reaper, taken away."""
        return self.sink.run_gone.is_set() or self.ended_elsewhere.is_set()

    async def execute(self) -> None:
        settings = get_settings()
        masker = Masker(self.flow.environment.secrets.values())
        environment = self.flow.environment
        transport = open_transport(
            settings.engine_http_client,
            limit=max(8, self.options.concurrency * 2),
            verify_tls=environment.verify_tls,
            proxy=environment.proxy,
        )
        keep_alive: asyncio.Future[None] | None = None
        limiter: RateLimiter | None = None
        comparing = self._compare_as_it_runs()
        try:
            # One per-host budget for every process running this run, in Redis when the broker is Redis.
            limiter = run_limiter(settings.celery_broker_url, self.run_id, self.options.rate_limit)
            self.runner = FlowRunner(self.flow, self.options, transport, self.sink, self.cancel, limiter=limiter)
            keep_alive = asyncio.ensure_future(self._keep_alive(settings.run_heartbeat_seconds))
            self.outcome = await self.runner.run()
        except Exception as exc:
            logger.exception("run %s crashed", self.run_id)
            # An exception's text can quote the value that broke it: the run record gets it masked.
            self.failure = masker.text(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if keep_alive is not None:
                keep_alive.cancel()
                await asyncio.gather(keep_alive, return_exceptions=True)
            await transport.close()
            await close_limiter(limiter)
            if comparing is not None:
                await asyncio.gather(comparing, return_exceptions=True)
        try:
            await self.sink.flush()
        except Exception as exc:
            logger.exception("run %s: results could not be stored", self.run_id)
            self.failure = self.failure or masker.text(f"results could not be stored: {type(exc).__name__}: {exc}")

    def _compare_as_it_runs(self) -> asyncio.Future[None] | None:
        """Load the previous run's outcomes for this part's iterations while it runs (off its critical path)."""
        summed, sums = self.summed, self.sink.sums
        if summed is None or sums is None or summed.previous_run_id is None:
            return None

        async def load() -> None:
            try:
                async with self.session_factory() as session:
                    before = await previous_outcomes(session, summed)
            except Exception as exc:  # the run's end reads the results instead
                logger.warning("run %s: the previous run's outcomes could not be read: %r", self.run_id, exc)
                sums.usable = False
                return
            sums.compare_with(before)

        return asyncio.ensure_future(load())

    async def finish_run(self) -> RunStatus | None:
        """End the whole run with what this execution found; None when it was not this execution's to end."""
        if self.sink.run_gone.is_set():
            logger.info("run %s was deleted while it ran (with its project); it stopped", self.run_id)
            return None
        if self.ended_elsewhere.is_set():
            logger.warning("run %s was ended by someone else while it ran (the reaper?); it stopped", self.run_id)
            return None
        compared_with = self.summed.previous_run_id if self.summed is not None else None
        if self.failure is not None or self.outcome is None:
            await finish(
                self.session_factory, self.run_id, RunStatus.ERROR, self.failure, self.outcome, self.sink.sums,
                compared_with,
            )  # fmt: skip
            return RunStatus.ERROR
        status, error = self.outcome.status, self.outcome.error
        await finish(self.session_factory, self.run_id, status, error, self.outcome, self.sink.sums, compared_with)
        return status

    async def _still_mine(self, session: AsyncSession) -> bool:
        """The sink's guard for a chunk: its rows are written only while the chunk is this executor's.

        The first statement of the batch's transaction, and a write (the batch is also a heartbeat): it locks
        the chunk's row, so a reaper taking the chunk away (deleting its records to run it again) is wholly
        before this batch or after it; on SQLite it takes the write lock at once, where a read first would
        fail to upgrade when another process wrote meanwhile ("database is locked", with no wait).
        """
        mine = await session.execute(update_owned_chunk(self.chunk_id, self.owner).values(heartbeat_at=utcnow()))
        return bool(mine.rowcount)  # type: ignore[attr-defined]

    async def _keep_alive(self, interval: float) -> None:
        """Heartbeat, iteration progress and cancel polling: a few small writes and one read every `interval` s.

        Results are not flushed here: the sink writes them on its own time bound, and a slow database must
        not delay the heartbeat.
        """
        assert self.runner is not None
        iterations = self.runner.iterations
        while True:
            await asyncio.sleep(interval)
            try:
                await self._beat(iterations)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a missed heartbeat is retried next tick; the reaper allows for several
                logger.warning("heartbeat for run %s failed (retried): %s: %s", self.run_id, type(exc).__name__, exc)

    async def _beat(self, iterations: Counts) -> None:
        now = utcnow()
        progress: dict[str, object]
        async with self.session_factory() as session:
            if self.chunk_id is None:
                progress = dict(_iteration_counts(iterations)) if self.reports_progress else {}
            else:
                # A sharded run's progress is the sum of its chunks' (this chunk's is updated first, below).
                progress = {
                    name: select(func.coalesce(func.sum(getattr(ScenarioRunChunk, name)), 0))
                    .where(ScenarioRunChunk.run_id == self.run_id)
                    .scalar_subquery()
                    for name in _iteration_counts(iterations)
                }
                mine = await session.execute(
                    update_owned_chunk(self.chunk_id, self.owner).values(
                        heartbeat_at=now, **_iteration_counts(iterations)
                    )
                )
                if not mine.rowcount:  # type: ignore[attr-defined]
                    # Taken from this executor (the reaper thought it dead): stop; the sink's guard drops the rest.
                    self.sink.run_gone.set()
                    self.cancel.set()
            await session.execute(
                update(ScenarioRun)
                .where(ScenarioRun.id == self.run_id, ScenarioRun.status == RunStatus.RUNNING)
                .values(heartbeat_at=now, **progress)
            )
            state = (
                await session.execute(
                    select(ScenarioRun.status, ScenarioRun.cancel_requested).where(ScenarioRun.id == self.run_id)
                )
            ).first()
            await session.commit()
        if state is None:  # the run's row was deleted (with its project): stop sending
            self.sink.run_gone.set()
        elif state.status != RunStatus.RUNNING:
            # The reaper already ended it (this process stalled past RUN_STALE_AFTER_SECONDS): a run
            # called `interrupted` must not go on sending; what it sent is still recorded.
            self.ended_elsewhere.set()
        if state is None or state.cancel_requested or state.status != RunStatus.RUNNING:
            self.cancel.set()


async def execute_run(session_factory: async_sessionmaker[AsyncSession], run_id: int, owner: str) -> RunStatus | None:
    """Claim and execute one run; returns its final status, or None if someone else claimed or ended it
    (or, for a run sharded over Celery workers, when its chunks will end it)."""
    settings = get_settings()
    if not await claim(session_factory, run_id, owner):
        logger.info("run %s was already claimed; skipping", run_id)
        return None
    try:
        async with session_factory() as session:
            run = await session.get(ScenarioRun, run_id)
        if run is None:
            logger.info("run %s was deleted before it started", run_id)
            return None
        flow, options = await load_flow(session_factory, run, settings.body_snapshot_limit)
    except RunSetupError as exc:
        await finish(session_factory, run_id, RunStatus.ERROR, str(exc))
        return RunStatus.ERROR
    except Exception as exc:  # a vanished reference, an unreadable row...: the run says so and ends
        logger.exception("run %s could not be prepared", run_id)
        await finish(
            session_factory, run_id, RunStatus.ERROR, f"the run could not be prepared: {type(exc).__name__}: {exc}"
        )
        return RunStatus.ERROR
    if not any(step.enabled for step in flow.steps):
        await finish(session_factory, run_id, RunStatus.ERROR, "nothing to run: the scenario has no enabled steps")
        return RunStatus.ERROR
    from app.runs import chunks

    async with session_factory() as session:
        previous = await previous_run_now(session, run_id)
    if chunks.should_shard(run, options):
        return await chunks.run_sharded(session_factory, run, flow, options, owner, previous)
    part = RunPart(session_factory, run_id, flow, options, summed=SummedPart(previous))
    await part.execute()
    return await part.finish_run()


async def reap_stale_runs(
    session_factory: async_sessionmaker[AsyncSession], stale_after_s: float, queued_timeout_s: float | None = None
) -> int:
    """End runs that nothing will finish: a silent executor (`interrupted`), a lost task message (`error`).

    A Celery run nobody claimed within `queued_timeout_s` (its message lost when Redis restarted without
    persistence, say) is sent once more; one still unclaimed that long after is ended `error`. A second
    message for a run waiting behind a busy queue is harmless: whoever gets it second finds it claimed.
    """
    if queued_timeout_s is None:
        queued_timeout_s = get_settings().run_queued_timeout_seconds
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    unclaimed_cutoff = now - timedelta(seconds=queued_timeout_s)
    from app.runs.chunks import reap_chunks

    chunks = await reap_chunks(session_factory, stale_after_s, queued_timeout_s)
    # A sharded Celery run lives in its chunks: while one is active, their heartbeats and queued timeouts
    # judge it (reap_chunks); the run's own heartbeat only says whether its teardown's executor is alive.
    # (An inline run's coordinator beats the run's heartbeat itself while its pool works.)
    judged_by_chunks = (
        select(ScenarioRunChunk.id)
        .where(ScenarioRunChunk.run_id == ScenarioRun.id, ScenarioRunChunk.status.in_(ACTIVE))
        .exists()
    )
    silent = (
        ScenarioRun.status == RunStatus.RUNNING,
        ScenarioRun.heartbeat_at < cutoff,
        ~((ScenarioRun.executor == "celery") & judged_by_chunks),
    )
    # Inline runs are claimed within milliseconds; one still queued long after was lost with its process.
    lost = (ScenarioRun.status == RunStatus.QUEUED, ScenarioRun.executor == "inline", ScenarioRun.created_at < cutoff)
    abandoned = (
        ScenarioRun.status == RunStatus.QUEUED,
        ScenarioRun.executor != "inline",
        ScenarioRun.redispatched_at < unclaimed_cutoff,
    )
    ends: tuple[tuple[Any, RunStatus, str, dict[str, Any]], ...] = (
        (silent, RunStatus.INTERRUPTED, "the executor stopped sending heartbeats", {"setup_state": None}),
        (lost, RunStatus.INTERRUPTED, "the server restarted before the run started", {}),
        (
            abandoned,
            RunStatus.ERROR,
            f"no worker claimed the run within {queued_timeout_s:g} s, even after it was sent again: "
            "is a worker running and consuming exile_scenario_tasks?",
            {},
        ),
    )

    # Candidates by a plain read, then ended by id with the same conditions, in a transaction that starts with
    # its write: an UPDATE whose WHERE scans the status index locks every entry it passes (InnoDB), and the
    # claims, new runs and ends of other processes then met it in a deadlock; on SQLite a transaction that read
    # first cannot write once another process wrote meanwhile. A tick with nothing to reap writes nothing.
    async with session_factory() as session:
        found = [sorted(await session.scalars(select(ScenarioRun.id).where(*where))) for where, *_ in ends]
        unclaimed = list(
            await session.scalars(
                select(ScenarioRun.id).where(
                    ScenarioRun.status == RunStatus.QUEUED,
                    ScenarioRun.executor != "inline",
                    ScenarioRun.redispatched_at.is_(None),
                    ScenarioRun.created_at < unclaimed_cutoff,
                )
            )
        )

    async def end_them() -> int:
        ended = 0
        async with session_factory() as session:
            for ids, (where, status, error, extra) in zip(found, ends, strict=True):
                if ids:
                    result = await session.execute(
                        update(ScenarioRun)
                        .where(ScenarioRun.id.in_(ids), *where)
                        .values(status=status, finished_at=now, error=error, **extra)
                    )
                    ended += int(result.rowcount or 0)  # type: ignore[attr-defined]
            if ended:
                # The runs ended here (all with finished_at=now) get their roll-ups and callbacks recorded with
                # their end; the callback sweep (app.callbacks.service.resume_pending) sends them.
                await record_ends_at(session, now)
            await session.commit()
        return ended

    ended = await retried_on_conflict(end_them) if any(found) else 0
    for run_id in unclaimed:
        await _redispatch(session_factory, run_id)
    return chunks + ended


async def _redispatch(session_factory: async_sessionmaker[AsyncSession], run_id: int) -> None:
    """Send an unclaimed run's task once more; the conditional update makes one reaper (of many) do it."""
    from app.runs.dispatch import send_to_workers

    async with session_factory() as session:
        marked = await session.execute(
            update(ScenarioRun)
            .where(
                ScenarioRun.id == run_id, ScenarioRun.status == RunStatus.QUEUED, ScenarioRun.redispatched_at.is_(None)
            )
            .values(redispatched_at=utcnow())
        )
        await session.commit()
    if not marked.rowcount:  # type: ignore[attr-defined]
        return
    try:
        await send_to_workers(run_id)
        logger.warning("run %s was not claimed in time; its task was sent again", run_id)
    except Exception:  # the broker is down: the next timeout ends the run with that reason
        logger.exception("run %s could not be sent again", run_id)
