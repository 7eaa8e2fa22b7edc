"""run_scenario_task: load a run, execute it with the engine, save every result.

Each worker thread owns its event loop and its own database engine (NullPool): an asyncpg or asyncmy
connection must never cross event loops, and `--pool=threads` runs tasks on several threads at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from celery.signals import worker_ready
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.core.config import get_settings
from app.core.db import build_engine
from app.runs.executor import execute_run, reap_stale_runs, worker_name
from app.tasks.celery_app import celery_app

logger = logging.getLogger("exile.worker")

_local = threading.local()


def _thread_context() -> tuple[asyncio.AbstractEventLoop, async_sessionmaker[AsyncSession]]:
    if not hasattr(_local, "loop"):
        _local.loop = asyncio.new_event_loop()
        engine = build_engine(get_settings().resolved_database_url, poolclass=NullPool)
        _local.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    return _local.loop, _local.sessions


@celery_app.task(name="run_scenario_task", acks_late=True, reject_on_worker_lost=True)
def run_scenario_task(scenario_run_id: int) -> str | None:
    """Execute one ScenarioRun; a second delivery of the same run finds it claimed and does nothing."""
    loop, sessions = _thread_context()
    owner = f"{worker_name('celery')}:{threading.get_ident()}"
    return loop.run_until_complete(execute_run(sessions, scenario_run_id, owner))


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
