"""Sharded runs: a scenario run with many data rows is split into chunks that several processes run at once.

Why: one Python process tops out near 0.6x a bare aiohttp loop on the order flow (templating, checks,
snapshots and the sink share one core); the same rows over two processes get close to the bare loop. So a
run with more than RUN_CHUNK_ROWS rows is cut into chunks of that many rows, and:

- The executor that claimed the run runs its setup alone (RunOptions.setup_only), seals what setup left
  (its values, and which of them came from secrets) into the run's row, writes the chunk rows and hands
  them out: inline to a pool of RUN_PROCESSES processes on this machine; with Celery as one
  `run_chunk_task` per chunk on exile_scenario_tasks, so any worker takes any chunk.
- A chunk is claimed (queued -> running) like a run, beats its own heartbeat (and the run's), polls the
  run's cancel, and writes its records through a sink that checks, in each batch's transaction, that the
  chunk is still its own: a chunk taken away from a stalled executor never gets its records twice.
- The chunk that ends last ends the run (a database counter, no result backend: each chunk commits its
  own end before it counts the others, so the last to commit sees them all; `finisher` is claimed
  atomically, so exactly one runs teardown, once, and writes the run's sums).
- A chunk whose executor died (its heartbeat stopped, its pool process was killed) is run again with its
  partial records deleted, up to RUN_CHUNK_ATTEMPTS times, then ends `interrupted`; other chunks' records
  are untouched. Cancel stops every chunk; the run's timeout bounds them all (each gets what is left).
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import logging
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from multiprocessing import get_context
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.bootstrap import freeze_start_up
from app.core.config import get_settings, inherit_settings
from app.core.db import changed_a_row, retried_on_conflict
from app.core.secret_box import seal, unseal
from app.core.text import bounded
from app.engine.results import Counts, FlowOutcome, describe_iterations
from app.engine.specs import CaseSpec, EnvironmentSpec, FlowSpec, RunOptions, SetupState, StepSpec
from app.engine.statuses import ACTIVE, FINISHED, RunStatus
from app.models import ApiRequestRun, ScenarioRun, ScenarioRunChunk
from app.models.base import utcnow
from app.notifications.delivery import left_on, send_left_here
from app.reports.rollups import RunSums, SummedPart, stored_final_counts
from app.runs.executor import (
    ERROR_TEXT_LIMIT,
    RunPart,
    finish,
    logger,
    retried_at_the_end,
    update_owned_chunk,
    worker_name,
)
from app.runs.loader import RunSetupError, count_rows, load_flow, scenario_rows

_log = logging.getLogger("exile.runs.chunks")


def should_shard(run: ScenarioRun, options: RunOptions) -> bool:
    """A scenario run with more rows than a chunk, where more than one process can take chunks."""
    settings = get_settings()
    if run.kind != "scenario" or options.carry_over:  # carried values need one iteration after the other
        return False
    if options.concurrency < 2:  # one request in flight means one chunk at a time: nothing to share out
        return False
    if run.executor != "celery" and settings.run_processes < 2:
        return False
    return (run.iterations_total or 0) > settings.run_chunk_rows


# ---- the executor that claimed the run -------------------------------------------------------------------
async def run_sharded(
    session_factory: async_sessionmaker[AsyncSession],
    run: ScenarioRun,
    flow: FlowSpec,
    options: RunOptions,
    owner: str,
    previous_run_id: int | None = None,
) -> RunStatus | None:
    """Setup here, then the chunks: inline in this machine's process pool (waited for), or on the workers.
    Each part sums what it stores for the roll-ups, compared with run `previous_run_id`."""
    setup_only = options.model_copy(update={"setup_only": True})
    setup = RunPart(session_factory, run.id, flow, setup_only, summed=SummedPart(previous_run_id, *_ONCE))
    await setup.execute()
    state = setup.runner.setup_state if setup.runner is not None else None
    if setup.stopped or setup.failure or state is None or setup.outcome is None or setup.outcome.status != "passed":
        # A failed setup (teardown ran), a cancel, a timeout: the run ends as an unsharded one would.
        return await setup.finish_run()
    summed = {"previous_run_id": previous_run_id, "setup_sums": setup.sink.sums.to_json() if setup.sink.sums else None}
    positions = await _plan(session_factory, run, state, flow, options, summed)
    if positions is None:
        return None
    if run.executor == "celery":
        # The others to the queue, for any worker; the first right here, on a worker that is already warm and
        # free: a chunk through the broker started 30-60 ms after the run's claim, one taken here at once.
        here, *elsewhere = positions
        await _send_chunks(session_factory, run.id, elsewhere)
        await execute_chunk(session_factory, run.id, here, owner)
        return None  # the chunk that ends last ends the run
    await _run_in_pool(session_factory, run.id, positions, owner)
    async with session_factory() as session:
        return await session.scalar(select(ScenarioRun.status).where(ScenarioRun.id == run.id))


async def _plan(
    session_factory: async_sessionmaker[AsyncSession],
    run: ScenarioRun,
    state: SetupState,
    flow: FlowSpec,
    options: RunOptions,
    summed: dict[str, Any],
) -> list[int] | None:
    """Write the chunks and, sealed, setup's state and the flow as the run started with it (so a case edited
    while the chunks run changes none of them), with the run's chunk count, in one transaction."""
    size = get_settings().run_chunk_rows
    if run.only_iterations:
        universe: list[int] = sorted(set(run.only_iterations))
    else:
        assert run.scenario_id is not None
        async with session_factory() as session:  # a read of its own: the write below starts its transaction
            universe = list(range(max(1, await count_rows(session, run.scenario_id))))
    starts = list(range(0, len(universe), size))
    planned = {
        "state": dataclasses.asdict(state),
        "flow": flow_snapshot(flow),
        "options": options.model_dump(),
        **summed,  # the run compared with, and what setup summed (the run's end adds the chunks' to it)
    }
    sealed = seal(orjson.dumps(planned, default=str).decode())

    async def write() -> bool:
        async with session_factory() as session:
            marked = await session.execute(
                update(ScenarioRun)
                .where(ScenarioRun.id == run.id, ScenarioRun.status == RunStatus.RUNNING)
                .values(chunks=len(starts), setup_state=sealed, heartbeat_at=utcnow())
            )
            if not marked.rowcount:  # type: ignore[attr-defined]
                return False  # cancelled outright or ended by the reaper meanwhile
            session.add_all(
                ScenarioRunChunk(
                    run_id=run.id,
                    position=position,
                    first_iteration=universe[start] if position else 0,
                    # The next chunk's first iteration; the last is open (rows added since the count run too).
                    end_iteration=universe[start + size] if start + size < len(universe) else None,
                    status=RunStatus.QUEUED,
                    dispatched_at=utcnow(),
                )
                for position, start in enumerate(starts)
            )
            await session.commit()
            return True

    return list(range(len(starts))) if await retried_on_conflict(write) else None


async def _send_chunks(session_factory: async_sessionmaker[AsyncSession], run_id: int, positions: list[int]) -> None:
    from app.runs.dispatch import send_chunk_to_workers

    for position in positions:
        try:
            await send_chunk_to_workers(run_id, position)
        except Exception as exc:  # the broker went away: the run says so and ends (its chunks with it)
            reason = f"the task queue could not be reached ({type(exc).__name__}); chunk {position} was not started"
            logger.error("run %s: %s", run_id, reason)
            async with session_factory() as session:
                await session.execute(
                    update(ScenarioRunChunk)
                    .where(ScenarioRunChunk.run_id == run_id, ScenarioRunChunk.status == RunStatus.QUEUED)
                    .values(status=RunStatus.ERROR, finished_at=utcnow(), error=reason)
                )
                await session.commit()
            await finish_if_done(session_factory, run_id, worker_name("dispatch"))
            return


# ---- inline: a pool of processes on this machine ---------------------------------------------------------
_pool: ProcessPoolExecutor | None = None
_pool_settings: str | None = None
# Pool processes fork from a server process that imported the executor once (a spawned process would take
# seconds to import it, for every pool made again after a process died); a plain fork would copy the API's
# running event loop and threads. The fork server starts with the first sharded run (it holds ~110 MB that an
# API which never shards should not carry).
_processes = get_context("forkserver")
_processes.set_forkserver_preload(["app.runs.chunks"])


def _process_pool() -> ProcessPoolExecutor:
    """This process's run pool: processes that use this process's settings (its database, its secret key),
    made again when those change."""
    global _pool, _pool_settings
    settings = get_settings()
    inherited = settings.model_copy(update={"secret_key": settings.signing_key()})
    key = inherited.model_dump_json()
    if _pool is None or _pool_settings != key:
        shutdown_pool()
        _pool = ProcessPoolExecutor(
            max_workers=settings.run_processes,
            mp_context=_processes,
            initializer=_start_pool_process,
            initargs=(inherited,),
        )
        _pool_settings = key
    return _pool


def _start_pool_process(settings: Any) -> None:
    inherit_settings(settings)
    _limit_malloc_arenas()
    freeze_start_up()


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates an arena of its own and keeps what it freed there: aiosqlite's
    connection threads grew a pool process from 120 to 176 MiB between 10,000 and 100,000 rows, with the Python
    heap flat; two arenas keep it at 119 MiB (benchmarks/README.md). Anything but glibc: left as it is."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


_M_ARENA_MAX = -8  # glibc's malloc.h


def shutdown_pool() -> None:
    global _pool, _pool_settings
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool, _pool_settings = None, None


def run_chunk_in_process(run_id: int, position: int) -> str | None:
    """A pool process's task: one chunk, on the process's own event loop and database engine."""
    from app.core.db import thread_database

    loop, sessions = thread_database()
    try:
        return loop.run_until_complete(execute_chunk(sessions, run_id, position, worker_name("pool")))
    finally:  # the notifications of a run this chunk ended, sent before the coordinator hears it ended
        if left_on(loop):
            loop.run_until_complete(send_left_here())


async def _run_in_pool(
    session_factory: async_sessionmaker[AsyncSession], run_id: int, positions: list[int], owner: str
) -> None:
    """Hand the chunks to the pool and wait; a pool whose process died is replaced and its chunks taken back."""
    loop = asyncio.get_running_loop()
    heartbeat = asyncio.ensure_future(_beat_while_waiting(session_factory, run_id))
    try:
        await _hand_to_pool(session_factory, run_id, positions, loop)
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
    await finish_if_done(session_factory, run_id, owner)  # when the last chunk died, or could not end the run


async def _beat_while_waiting(session_factory: async_sessionmaker[AsyncSession], run_id: int) -> None:
    """The coordinator is alive while its pool works (chunks waiting for a process beat nothing themselves)."""
    interval = get_settings().run_heartbeat_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            async with session_factory() as session:
                await session.execute(
                    update(ScenarioRun)
                    .where(ScenarioRun.id == run_id, ScenarioRun.status == RunStatus.RUNNING)
                    .values(heartbeat_at=utcnow())
                )
                await session.commit()
        except Exception as exc:  # retried next tick; the reaper allows for several
            _log.warning("heartbeat for run %s failed (retried): %s", run_id, exc)


async def _hand_to_pool(
    session_factory: async_sessionmaker[AsyncSession],
    run_id: int,
    positions: list[int],
    loop: asyncio.AbstractEventLoop,
) -> None:
    pending = positions
    while pending:
        pool = _process_pool()
        futures = [asyncio.wrap_future(pool.submit(run_chunk_in_process, run_id, p), loop=loop) for p in pending]
        results = await asyncio.gather(*futures, return_exceptions=True)
        broken = any(isinstance(result, BrokenProcessPool) for result in results)
        failed = [p for p, result in zip(pending, results, strict=True) if isinstance(result, BaseException)]
        if not failed:
            break
        if broken:  # a process died: the pool (and every chunk still running in it) is lost
            _log.warning("run %s: a pool process died; its chunks are taken back", run_id)
            shutdown_pool()
        else:
            _log.error(
                "run %s: chunks %s raised %r", run_id, failed, next(r for r in results if isinstance(r, BaseException))
            )
        async with session_factory() as session:
            lost = list(
                await session.scalars(
                    select(ScenarioRunChunk).where(
                        ScenarioRunChunk.run_id == run_id,
                        ScenarioRunChunk.status == RunStatus.RUNNING,
                        *([] if broken else [ScenarioRunChunk.position.in_(failed)]),
                    )
                )
            )
        for chunk in lost:
            await take_back(session_factory, chunk, "its process died" if broken else "its process failed")
        async with session_factory() as session:
            pending = list(
                await session.scalars(
                    select(ScenarioRunChunk.position).where(
                        ScenarioRunChunk.run_id == run_id, ScenarioRunChunk.status == RunStatus.QUEUED
                    )
                )
            )


# ---- a chunk, wherever it runs ---------------------------------------------------------------------------
async def execute_chunk(
    session_factory: async_sessionmaker[AsyncSession], run_id: int, position: int, owner: str
) -> RunStatus | None:
    """Claim and run one chunk; the chunk that ends last ends the run. None when it was not this one's to run."""
    owner = owner[:200]
    now = utcnow()
    take = (
        update(ScenarioRunChunk)
        .where(
            ScenarioRunChunk.run_id == run_id,
            ScenarioRunChunk.position == position,
            ScenarioRunChunk.status == RunStatus.QUEUED,
        )
        .values(
            status=RunStatus.RUNNING,
            owner=owner,
            started_at=now,
            heartbeat_at=now,
            attempts=ScenarioRunChunk.attempts + 1,
        )
    )
    if not await changed_a_row(session_factory, take):  # a conflict rolled the claim back: nothing was taken yet
        return None  # a second delivery, or the chunk was ended meanwhile
    async with session_factory() as session:
        run = await session.get(ScenarioRun, run_id)
        chunk = await session.scalar(
            select(ScenarioRunChunk).where(ScenarioRunChunk.run_id == run_id, ScenarioRunChunk.position == position)
        )
    if run is None or chunk is None:
        return None
    try:
        return await _run_claimed(session_factory, run, chunk, owner)
    except Exception as exc:  # a chunk never stays `running` for the reaper when its executor is alive
        logger.exception("run %s: chunk %s crashed", run_id, position)
        why = f"internal error in chunk {position}: {type(exc).__name__} (details in the executor's log)"
        return await _end_chunk(session_factory, chunk, owner, RunStatus.ERROR, why)


async def _run_claimed(
    session_factory: async_sessionmaker[AsyncSession], run: ScenarioRun, chunk: ScenarioRunChunk, owner: str
) -> RunStatus | None:
    settings = get_settings()
    run_id = run.id
    if run.status != RunStatus.RUNNING or run.cancel_requested:
        return await _end_chunk(
            session_factory, chunk, owner, RunStatus.CANCELLED, "not started: the run was cancelled or ended"
        )
    try:
        flow, options, seed, previous_run_id = await _planned_flow(session_factory, run)
    except Exception as exc:  # RunSetupError, a vanished reference: the chunk (and so the run) ends in error
        reason = str(exc) if isinstance(exc, RunSetupError) else f"the chunk could not be prepared: {exc!r}"
        return await _end_chunk(session_factory, chunk, owner, RunStatus.ERROR, reason)
    remaining = _remaining_ms(run, options)
    if remaining <= 0:
        return await _end_chunk(
            session_factory, chunk, owner, RunStatus.ERROR, f"run timed out after {options.timeout_ms} ms"
        )
    assert run.scenario_id is not None
    only = set(run.only_iterations) if run.only_iterations else None
    flow.setup, flow.teardown, flow.seed = [], [], seed
    flow.rows = scenario_rows(session_factory, run.scenario_id, only, chunk.first_iteration, chunk.end_iteration)
    # The run's concurrency is the total in flight: each of the chunks running at once takes its share.
    running_at_once = max(1, min(settings.run_processes, run.chunks or 1, options.concurrency))
    share = max(1, options.concurrency // running_at_once)
    timeout_ms = options.timeout_ms
    options = options.model_copy(update={"timeout_ms": remaining, "concurrency": share})
    summed = SummedPart(previous_run_id, chunk.first_iteration, chunk.end_iteration)
    part = RunPart(session_factory, run_id, flow, options, chunk_id=chunk.id, owner=owner, summed=summed)
    await part.execute()
    if part.sink.run_gone.is_set():
        return None  # taken from this executor (or the run deleted): its records were not kept
    outcome = part.outcome
    status: RunStatus
    error: str | None
    if part.ended_elsewhere.is_set():
        status, error = RunStatus.INTERRUPTED, "the run was ended while this chunk ran"
    elif part.failure is not None or outcome is None:
        status, error = RunStatus.ERROR, part.failure
    else:  # a failed chunk's story is its first failure; an error (a timeout, unreadable rows) says why
        status, error = outcome.status, (outcome.error if outcome.status == RunStatus.ERROR else None)
        if error == f"run timed out after {remaining} ms":  # the chunk had what was left: name the run's timeout
            error = f"run timed out after {timeout_ms} ms"
    return await _end_chunk(session_factory, chunk, owner, status, error, outcome, part.sink.sums)


def _remaining_ms(run: ScenarioRun, options: RunOptions) -> int:
    """What is left of the run's timeout: chunks and teardown share it."""
    timeout = options.timeout_ms
    if run.started_at is None:
        return timeout
    spent = (utcnow() - run.started_at).total_seconds() * 1000
    return max(0, int(timeout - spent))


async def _planned_flow(
    session_factory: async_sessionmaker[AsyncSession], run: ScenarioRun
) -> tuple[FlowSpec, RunOptions, SetupState, int | None]:
    """The flow, options and setup state the run was planned with (rows are read per chunk, from the database),
    and the run its results are compared with."""
    planned = _planned(run)
    if "flow" not in planned:  # planned before snapshots were kept: the flow as it is now
        flow, options = await load_flow(session_factory, run, get_settings().body_snapshot_limit)
        return flow, options, SetupState(**planned), None
    return (
        flow_from_snapshot(planned["flow"]),
        RunOptions.model_validate(planned["options"]),
        SetupState(**planned["state"]),
        planned.get("previous_run_id"),
    )


def _planned(run: ScenarioRun) -> dict[str, Any]:
    return orjson.loads(unseal(run.setup_state)) if run.setup_state else {}


_ONCE = (-1, 0)  # the iterations of setup and teardown


def flow_snapshot(flow: FlowSpec) -> dict[str, Any]:
    """A flow's plain data (without its rows): what a chunk in another process runs."""

    def step(spec: StepSpec) -> dict[str, Any]:
        fields = dataclasses.asdict(spec)
        fields["case"] = spec.case.model_dump(mode="json", by_alias=True)
        return fields

    return {
        "steps": [step(s) for s in flow.steps],
        "setup": [step(s) for s in flow.setup],
        "teardown": [step(s) for s in flow.teardown],
        "environment": dataclasses.asdict(flow.environment),
        "scenario_variables": flow.scenario_variables,
        "run_variables": flow.run_variables,
    }


def flow_from_snapshot(data: dict[str, Any]) -> FlowSpec:
    def step(fields: dict[str, Any]) -> StepSpec:
        return StepSpec(**{**fields, "case": CaseSpec.model_validate(fields["case"])})

    return FlowSpec(
        steps=[step(s) for s in data["steps"]],
        setup=[step(s) for s in data["setup"]],
        teardown=[step(s) for s in data["teardown"]],
        environment=EnvironmentSpec(**data["environment"]),
        scenario_variables=data["scenario_variables"],
        run_variables=data["run_variables"],
    )


async def _end_chunk(
    session_factory: async_sessionmaker[AsyncSession],
    chunk: ScenarioRunChunk,
    owner: str,
    status: RunStatus,
    error: str | None,
    outcome: FlowOutcome | None = None,
    sums: RunSums | None = None,
) -> RunStatus | None:
    values: dict[str, object] = {"status": status, "finished_at": utcnow(), "error": bounded(error, ERROR_TEXT_LIMIT)}
    if sums is not None:
        values["result_sums"] = sums.to_json()
    if outcome is not None:
        values.update(
            iterations_passed=outcome.iterations.passed,
            iterations_failed=outcome.iterations.failed,
            iterations_error=outcome.iterations.error,
            iterations_flaky=outcome.iterations.flaky,
            first_failure=outcome.first_failure,
        )

    # A deadlock's victim must not turn a chunk that ran into an error: the end is made again.
    if not await changed_a_row(session_factory, update_owned_chunk(chunk.id, owner).values(**values)):
        return None  # taken away meanwhile: whoever has it now ends it
    await finish_if_done(session_factory, chunk.run_id, owner)
    return status


async def take_back(
    session_factory: async_sessionmaker[AsyncSession], chunk: ScenarioRunChunk, why: str, rerun: bool = True
) -> bool:
    """A chunk whose executor died: queued again with its partial records deleted, or (out of attempts, or
    `rerun` False) ended `interrupted`; True when it should be handed out again.

    One transaction that starts with the write taking the chunk (every transaction here writes first: on
    SQLite a transaction that read first cannot write once another process has written meanwhile).
    """
    again = rerun and chunk.attempts < get_settings().run_chunk_attempts
    values: dict[str, object] = (
        {
            "status": RunStatus.QUEUED,
            "owner": None,
            "heartbeat_at": None,
            "dispatched_at": utcnow(),
            "result_sums": None,
        }
        if again
        else {
            "status": RunStatus.INTERRUPTED,
            "finished_at": utcnow(),
            "error": f"{why}, {chunk.attempts} time(s); it was not run again",
        }
    )
    async with session_factory() as session:
        taken = await session.execute(update_owned_chunk(chunk.id, chunk.owner).values(**values))
        if not taken.rowcount:  # type: ignore[attr-defined]
            return False
        if again:
            # Lock the run's row before touching its records: the order a sink's batch takes (its chunk, the
            # run's counts, then the records), so the two never wait on each other in a cycle (MariaDB found one).
            await session.execute(select(ScenarioRun.id).where(ScenarioRun.id == chunk.run_id).with_for_update())
            window = [ApiRequestRun.scenario_run_id == chunk.run_id, ApiRequestRun.iteration >= chunk.first_iteration]
            if chunk.end_iteration is not None:
                window.append(ApiRequestRun.iteration < chunk.end_iteration)
            await session.execute(delete(ApiRequestRun).where(*window))
            await recount_requests(session, chunk.run_id)
        await session.commit()
    _log.warning(
        "run %s: chunk %s %s (%s)", chunk.run_id, chunk.position, "will run again" if again else "interrupted", why
    )
    return again


async def recount_requests(session: AsyncSession, run_id: int) -> None:
    """The run's request counts from its records (after a chunk's partial records were deleted). One scan (an
    UPDATE with a subquery per count scanned them six times: 14-21 ms of a 2,000-row run's end on MariaDB);
    callers hold the run's row (take_back locks it first; at the end no chunk writes any more)."""
    counts = await stored_final_counts(session, run_id)
    await session.execute(update(ScenarioRun).where(ScenarioRun.id == run_id).values(**counts))


# ---- the end of the run ----------------------------------------------------------------------------------
async def finish_if_done(
    session_factory: async_sessionmaker[AsyncSession], run_id: int, owner: str
) -> RunStatus | None:
    """When no chunk is left active, one caller (whoever claims `finisher`) runs teardown and ends the run."""
    active = (
        select(ScenarioRunChunk.id)
        .where(ScenarioRunChunk.run_id == run_id, ScenarioRunChunk.status.in_(ACTIVE))
        .exists()
    )

    take_the_end = (
        update(ScenarioRun)
        .where(
            ScenarioRun.id == run_id, ScenarioRun.status == RunStatus.RUNNING, ScenarioRun.finisher.is_(None), ~active
        )
        .values(finisher=owner[:200], heartbeat_at=utcnow())
    )
    if not await changed_a_row(session_factory, take_the_end):
        return None
    async with session_factory() as session:
        run = await session.get(ScenarioRun, run_id)
        chunks = list(
            await session.scalars(
                select(ScenarioRunChunk).where(ScenarioRunChunk.run_id == run_id).order_by(ScenarioRunChunk.position)
            )
        )
    if run is None:
        return None
    teardown, teardown_failure = await _teardown(session_factory, run, chunks)
    if teardown is not None and teardown.stopped:
        return None
    status, error = _verdict(run, chunks, teardown.outcome if teardown else None, teardown_failure)
    iterations = Counts()
    for chunk in chunks:
        iterations.passed += chunk.iterations_passed
        iterations.failed += chunk.iterations_failed
        iterations.error += chunk.iterations_error
        iterations.flaky += chunk.iterations_flaky
    await _recount_before_the_end(session_factory, run_id)
    started = run.started_at or utcnow()
    outcome = FlowOutcome(
        status=status, iterations=iterations, requests=Counts(), started_at=started, finished_at=utcnow()
    )
    sums, compared_with = _run_sums(run, chunks, teardown)
    await finish(session_factory, run_id, status, error, outcome, sums, compared_with)
    return status


def _run_sums(
    run: ScenarioRun, chunks: list[ScenarioRunChunk], teardown: RunPart | None
) -> tuple[RunSums | None, int | None]:
    """What setup, every chunk and teardown summed, added up; None when a part's are missing (the end reads the
    results then: a chunk that never started, one planned before chunks kept their sums)."""
    try:
        planned = _planned(run)
    except Exception:
        return None, None
    parts = [planned.get("setup_sums"), *(chunk.result_sums for chunk in chunks)]
    if any(part is None for part in parts) or (teardown is not None and teardown.sink.sums is None):
        return None, None
    sums = RunSums(None)
    for part in parts:
        assert part is not None
        sums.merge(RunSums.from_json(part))
    if teardown is not None and teardown.sink.sums is not None:
        sums.merge(teardown.sink.sums)
    return sums, planned.get("previous_run_id")


async def _recount_before_the_end(session_factory: async_sessionmaker[AsyncSession], run_id: int) -> None:
    """Recount, retried like the end itself: this caller holds the run's `finisher` claim, so if it gave up here
    nobody would end the run but the reaper (as `interrupted`). Counts that cannot be redone still let it end."""

    async def recount() -> None:
        async with session_factory() as session:
            await recount_requests(session, run_id)
            await session.commit()

    try:
        await retried_at_the_end(recount)
    except Exception:
        logger.exception("run %s: its request counts could not be redone; it ends with the batches' counts", run_id)


async def _teardown(
    session_factory: async_sessionmaker[AsyncSession], run: ScenarioRun, chunks: list[ScenarioRunChunk]
) -> tuple[RunPart | None, str | None]:
    """Teardown once, after every chunk, from setup's values (recorded "not started" after a cancel)."""
    try:
        flow, options, seed, previous_run_id = await _planned_flow(session_factory, run)
    except Exception as exc:
        return None, (str(exc) if isinstance(exc, RunSetupError) else f"teardown could not be prepared: {exc!r}")
    if not flow.teardown:
        return None, None
    flow.steps, flow.setup, flow.rows, flow.seed = [], [], [], seed
    part = RunPart(
        session_factory,
        run.id,
        flow,
        options.model_copy(update={"timeout_ms": max(1, _remaining_ms(run, options))}),
        reports_progress=False,  # the run's iteration progress is its chunks' sums
        summed=SummedPart(previous_run_id, *_ONCE),
    )
    if run.cancel_requested or any(chunk.status == RunStatus.CANCELLED for chunk in chunks):
        part.cancel.set()
    await part.execute()
    return part, part.failure


def _verdict(
    run: ScenarioRun, chunks: list[ScenarioRunChunk], teardown: FlowOutcome | None, teardown_failure: str | None
) -> tuple[RunStatus, str | None]:
    """The run's end from its chunks' and teardown's, in the order an unsharded run would report them."""
    if run.cancel_requested or any(chunk.status == RunStatus.CANCELLED for chunk in chunks):
        return RunStatus.CANCELLED, "cancelled"
    errors = [chunk for chunk in chunks if chunk.status == RunStatus.ERROR]
    if errors:
        return RunStatus.ERROR, errors[0].error or f"chunk {errors[0].position} ended in error"
    if teardown_failure:
        return RunStatus.ERROR, teardown_failure
    if teardown is not None and teardown.status == RunStatus.ERROR:
        return RunStatus.ERROR, teardown.error
    interrupted = [chunk for chunk in chunks if chunk.status == RunStatus.INTERRUPTED]
    if interrupted:
        first = interrupted[0]
        return RunStatus.INTERRUPTED, (
            f"{len(interrupted)} of {len(chunks)} chunks were interrupted "
            f"(first: iterations from {first.first_iteration}: {first.error})"
        )
    reasons = []
    iterations = Counts(
        failed=sum(chunk.iterations_failed for chunk in chunks),
        error=sum(chunk.iterations_error for chunk in chunks),
        passed=sum(chunk.iterations_passed for chunk in chunks),
    )
    if iterations.failed or iterations.error:
        first_failure = next((chunk.first_failure for chunk in chunks if chunk.first_failure), None)
        reasons.append(describe_iterations(iterations, first_failure or "failed"))
    if teardown is not None and teardown.status == RunStatus.FAILED and teardown.error:
        reasons.append(teardown.error)
    if reasons:
        return RunStatus.FAILED, "; ".join(reasons)
    return RunStatus.PASSED, None


# ---- the reaper's part -----------------------------------------------------------------------------------
async def reap_chunks(
    session_factory: async_sessionmaker[AsyncSession], stale_after_s: float, queued_timeout_s: float
) -> int:
    """Take back chunks whose executor died, send again chunks nobody claimed, end runs nothing will end."""
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    unclaimed_cutoff = now - timedelta(seconds=queued_timeout_s)
    resend: list[tuple[int, int]] = []
    changed = 0
    async with session_factory() as session:  # reads first, each in a transaction of its own (see take_back)
        stale = (
            await session.execute(
                select(ScenarioRunChunk, ScenarioRun.executor)
                .join(ScenarioRun, ScenarioRun.id == ScenarioRunChunk.run_id)
                .where(ScenarioRunChunk.status == RunStatus.RUNNING, ScenarioRunChunk.heartbeat_at < cutoff)
            )
        ).all()
    try:
        changed += await _take_back_stale(session_factory, stale, resend)
        changed += await _resend_unclaimed(session_factory, now, unclaimed_cutoff, queued_timeout_s, resend)
    finally:
        # A chunk taken back is queued with no message anywhere: it is sent again even when a later step here
        # failed (a locked SQLite, a lost connection), or it would wait for nobody until the queued timeout.
        await _send_again(sorted(set(resend)))
    async with session_factory() as session:
        # Runs whose chunks all ended but nobody ended them (the last chunk's process died while ending it).
        orphans = list(
            await session.scalars(
                select(ScenarioRun.id).where(
                    ScenarioRun.status == RunStatus.RUNNING,
                    ScenarioRun.chunks > 0,
                    ScenarioRun.finisher.is_(None),
                    ~select(ScenarioRunChunk.id)
                    .where(ScenarioRunChunk.run_id == ScenarioRun.id, ScenarioRunChunk.status.notin_(FINISHED))
                    .exists(),
                )
            )
        )
    for run_id in orphans:
        await finish_if_done(session_factory, run_id, worker_name("reaper"))
    return changed + len(orphans)


async def _take_back_stale(
    session_factory: async_sessionmaker[AsyncSession], stale: Any, resend: list[tuple[int, int]]
) -> int:
    """Chunks whose heartbeat stopped; those to run again go into `resend` as soon as each is taken back."""
    changed = 0
    for chunk, executor in stale:
        # Inline chunks are run again by their own coordinator (it sees its pool break), never from here.
        if executor == "celery":
            if await take_back(session_factory, chunk, "its executor stopped sending heartbeats"):
                resend.append((chunk.run_id, chunk.position))
        else:  # hung, not dead (a dead one breaks the pool at once): interrupted, not queued for nobody
            await take_back(session_factory, chunk, "its process stopped sending heartbeats", rerun=False)
        changed += 1
    return changed


async def _resend_unclaimed(
    session_factory: async_sessionmaker[AsyncSession],
    now: datetime,
    unclaimed_cutoff: datetime,
    queued_timeout_s: float,
    resend: list[tuple[int, int]],
) -> int:
    """Queued chunks nobody claimed: sent once more (added to `resend`), then ended with the reason."""
    async with session_factory() as session:
        # A dead worker also took the messages it had prefetched but not started: its run's other queued
        # chunks are sent again too (a second message is harmless: the claim runs a chunk once).
        orphaned_runs = {run_id for run_id, _ in resend}
        if orphaned_runs:
            waiting = await session.execute(
                select(ScenarioRunChunk.run_id, ScenarioRunChunk.position).where(
                    ScenarioRunChunk.run_id.in_(orphaned_runs), ScenarioRunChunk.status == RunStatus.QUEUED
                )
            )
            resend.extend((run_id, position) for run_id, position in waiting)
        unclaimed = list(
            await session.execute(
                select(ScenarioRunChunk.id, ScenarioRunChunk.run_id, ScenarioRunChunk.position).where(
                    ScenarioRunChunk.status == RunStatus.QUEUED,
                    ScenarioRunChunk.redispatched_at.is_(None),
                    ScenarioRunChunk.dispatched_at < unclaimed_cutoff,
                )
            )
        )
    async with session_factory() as session:
        abandoned = await session.execute(
            update(ScenarioRunChunk)
            .where(ScenarioRunChunk.status == RunStatus.QUEUED, ScenarioRunChunk.redispatched_at < unclaimed_cutoff)
            .values(
                status=RunStatus.ERROR,
                finished_at=now,
                error=f"no worker claimed the chunk within {queued_timeout_s:g} s, even after it was sent again",
            )
        )
        if unclaimed:
            await session.execute(
                update(ScenarioRunChunk)
                .where(ScenarioRunChunk.id.in_([row.id for row in unclaimed]))
                .values(redispatched_at=now)
            )
        await session.commit()
    resend.extend((row.run_id, row.position) for row in unclaimed)
    return int(abandoned.rowcount or 0)  # type: ignore[attr-defined]


async def _send_again(chunks: list[tuple[int, int]]) -> None:
    from app.runs.dispatch import send_chunk_to_workers

    for run_id, position in chunks:
        try:
            await send_chunk_to_workers(run_id, position)
        except Exception:  # the broker is down: the queued timeout ends the chunk with that reason
            logger.exception("run %s: chunk %s could not be sent again", run_id, position)
