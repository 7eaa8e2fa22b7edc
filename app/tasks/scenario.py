"""run_scenario_task: load a run, execute it with the engine, save every result.

Each worker thread owns its event loop and its own pooled database engine: an asyncpg or asyncmy connection
must never cross event loops, and `--pool=threads` runs tasks on several threads at once, so a thread's pool
is only ever used on its own loop. Pooled, not NullPool: a run opens a session per result batch and per
heartbeat, and a new connection for each cost the worker ~5 % more CPU per request than the API process
(benchmarks/celery_vs_inline.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

from celery.signals import worker_ready
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import get_settings
from app.core.db import build_engine
from app.runs.executor import execute_run, reap_stale_runs, worker_name
from app.tasks.celery_app import celery_app

logger = logging.getLogger("exile.worker")
T = TypeVar("T")
THREAD_POOL_SIZE = 4

_local = threading.local()


def _thread_context() -> tuple[asyncio.AbstractEventLoop, async_sessionmaker[AsyncSession]]:
    if not hasattr(_local, "loop"):
        _local.loop = asyncio.new_event_loop()
        # A run holds at most a few sessions at once (sink, heartbeat); small, so threads x pool stays modest.
        engine = build_engine(get_settings().resolved_database_url, pool_size=THREAD_POOL_SIZE)
        _local.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    return _local.loop, _local.sessions


@celery_app.task(name="run_scenario_task", acks_late=True, reject_on_worker_lost=True)
def run_scenario_task(scenario_run_id: int) -> str | None:
    """Execute one ScenarioRun; a second delivery of the same run finds it claimed and does nothing."""
    loop, sessions = _thread_context()
    owner = f"{worker_name('celery')}:{threading.get_ident()}"
    return _run(loop, execute_run(sessions, scenario_run_id, owner), f"run-{scenario_run_id}")


def _run(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, T], label: str) -> T:
    """Run a task's coroutine on its thread's loop; EXILE_TASK_PROFILE_DIR=dir saves a cProfile of each task."""
    profile_dir = os.environ.get("EXILE_TASK_PROFILE_DIR")
    if not profile_dir:
        return loop.run_until_complete(work)
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return loop.run_until_complete(work)
    finally:
        profiler.disable()
        profiler.dump_stats(os.path.join(profile_dir, f"task-{label}-{time.time_ns()}.prof"))


@celery_app.task(name="reap_stale_runs_task")
def reap_stale_runs_task() -> int:
    loop, sessions = _thread_context()
    settings = get_settings()
    return loop.run_until_complete(
        reap_stale_runs(sessions, settings.run_stale_after_seconds, settings.run_queued_timeout_seconds)
    )


@worker_ready.connect
def _start_reaper(**_kwargs: object) -> None:
    """Workers also end runs whose executor died, so a deployment without an API process still heals."""

    def loop() -> None:
        while True:
            try:
                reap_stale_runs_task()
            except Exception:
                logger.exception("reaping stale runs failed")
            time.sleep(get_settings().run_reaper_interval_seconds)

    threading.Thread(target=loop, name="exile-reaper", daemon=True).start()
