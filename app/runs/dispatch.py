"""Hands a committed run to its executor: this process's runs thread, or a Celery task on exile_scenario_tasks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any

from sqlalchemy import select, update

from app.core.config import get_settings
from app.core.db import get_session_factory, thread_database
from app.core.errors import AppError
from app.engine.statuses import ACTIVE, RunStatus
from app.models import ScenarioRun
from app.models.base import utcnow
from app.runs.ending import record_end
from app.runs.executor import execute_run, worker_name

logger = logging.getLogger("exile.runs")

# The inline runs started here and not ended (strong references: a task nobody holds may be collected mid-run).
_inline_runs: set[concurrent.futures.Future[RunStatus | None]] = set()


class BrokerUnavailable(AppError):
    status_code, code = 503, "broker_unavailable"


async def send_to_workers(run_id: int) -> None:
    """Put the run's task on exile_scenario_tasks; raises when the broker cannot be reached."""
    from app.tasks.scenario import run_scenario_task

    await asyncio.to_thread(run_scenario_task.delay, run_id)


async def send_chunk_to_workers(run_id: int, position: int) -> None:
    """Put one chunk of a sharded run on exile_scenario_tasks; raises when the broker cannot be reached."""
    from app.tasks.scenario import run_chunk_task

    await asyncio.to_thread(run_chunk_task.delay, run_id, position)


async def dispatch(run: ScenarioRun) -> None:
    """Call only after the run's row is committed: the executor reads it from the database.

    A run that cannot be handed to the workers never stays `queued`: it is ended `error` with the
    reason, and BrokerUnavailable (503) tells the caller nothing will run it.
    """
    if run.executor == "celery":
        try:
            await send_to_workers(run.id)
        except Exception as exc:
            logger.error("run %s could not be sent to the workers: %s: %s", run.id, type(exc).__name__, exc)
            reason = f"the task queue could not be reached ({type(exc).__name__}); the run was not started"
            async with get_session_factory()() as session:
                await session.execute(
                    update(ScenarioRun)
                    .where(ScenarioRun.id == run.id, ScenarioRun.status == RunStatus.QUEUED)
                    .values(status=RunStatus.ERROR, finished_at=utcnow(), error=reason)
                )
                await record_end(session, run.id)  # its callback is sent by the callback sweep
                await session.commit()
            raise BrokerUnavailable(
                f"run {run.id} could not be sent to the workers: {reason}; it was recorded as error. "
                "Check CELERY_BROKER_URL and that the broker is up, then start it again."
            ) from exc
        return
    start_inline(run.id)


class RunsThread:
    """The event loop inline runs execute on, in a thread of its own with its own database engine.

    On the API's loop, a run's work (a 10 MiB body joined, decoded and checked; thousands of requests a second)
    waited in line with the API's requests: 8 runs against hostile targets held /health up 400-500 ms
    (benchmarks/hostile_targets.py). Here the two only share the GIL, which Python hands over every 5 ms.
    """

    def __init__(self) -> None:
        self.database_url = get_settings().resolved_database_url
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="exile-inline-runs", daemon=True)
        self._failed: BaseException | None = None
        self._thread.start()
        self._ready.wait()
        if self._failed is not None:
            raise RuntimeError(f"the inline runs thread could not start: {self._failed}") from self._failed

    def _serve(self) -> None:
        from app.notifications.delivery import send_in_background_here

        try:
            # Every inline run of the process works here: as many connections as the API's own engine.
            self.loop, self.sessions = thread_database(pool_size=get_settings().db_pool_size)
        except BaseException as exc:  # a database URL the engine refuses: said by the one who started it
            self._failed = exc
            self._ready.set()
            return
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(send_in_background_here)  # it keeps running: what a run's end sends goes on here
        self.loop.call_soon(self._ready.set)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def start(self, run_id: int, kind: str) -> concurrent.futures.Future[RunStatus | None]:
        work = execute_run(self.sessions, run_id, worker_name(kind))
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    def stop(self, grace_s: float) -> None:
        """Cancel what still runs (the reaper ends those runs `interrupted`), close the engine, end the thread."""
        if threading.current_thread() is self._thread:
            # Asked from a run on this very thread (a plan's next child when the database changed): waiting here
            # would wait on itself, so the thread winds down once the caller lets go of the loop, the caller's
            # own run spared (it is ending: its end must be written).
            wind_down = self._wind_down(grace_s, spare=asyncio.current_task(self.loop))
            self.loop.create_task(wind_down).add_done_callback(lambda _: self.loop.stop())
            return
        try:
            asyncio.run_coroutine_threadsafe(self._wind_down(grace_s), self.loop).result(grace_s + 5)
        except Exception:
            logger.exception("the inline runs thread did not wind down cleanly")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    async def _wind_down(self, grace_s: float, spare: asyncio.Task[Any] | None = None) -> None:
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task() and task is not spare]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        if spare is not None:  # its end (and the callback it sends) is bounded by their own timeouts
            await asyncio.wait({spare})
        await self.sessions.kw["bind"].dispose()


_runs_thread: RunsThread | None = None
_runs_thread_lock = threading.Lock()


def runs_thread() -> RunsThread:
    """This process's runs thread, started on first use (again when the database it works on changed)."""
    global _runs_thread
    with _runs_thread_lock:
        if _runs_thread is not None and _runs_thread.database_url != get_settings().resolved_database_url:
            _runs_thread.stop(grace_s=5.0)
            _runs_thread = None
        if _runs_thread is None:
            _runs_thread = RunsThread()
        return _runs_thread


def stop_runs_thread(grace_s: float = 5.0) -> None:
    """At shutdown (and for tests that swap the database): the next inline run starts a new thread."""
    global _runs_thread
    with _runs_thread_lock:
        thread, _runs_thread = _runs_thread, None
    if thread is not None:
        thread.stop(grace_s)


def start_inline(run_id: int, kind: str = "inline") -> concurrent.futures.Future[RunStatus | None]:
    """Execute a committed run in this process, on the runs thread; it outlives the request that started it.
    Callable from any thread; await it with asyncio.wrap_future (shielded, or a cancel reaches the run)."""
    future = runs_thread().start(run_id, kind)
    _inline_runs.add(future)
    future.add_done_callback(_inline_runs.discard)
    return future


async def wait_for_inline_runs() -> None:
    """For tests and shutdown: let the inline runs started by this process finish (never cancels them)."""
    while _inline_runs:
        await asyncio.wait([asyncio.wrap_future(future) for future in list(_inline_runs)])


async def wait_until_ended(run_id: int, timeout_s: float) -> bool:
    """Poll the run's row (no result backend needed) until it ended; False when `timeout_s` passed first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    interval = 0.02
    while True:
        async with get_session_factory()() as session:  # a fresh transaction each time sees the worker's commits
            status = await session.scalar(select(ScenarioRun.status).where(ScenarioRun.id == run_id))
        if status not in ACTIVE:
            return True
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 2, 0.25)
