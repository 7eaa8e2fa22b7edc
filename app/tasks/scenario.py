"""run_scenario_task: load a run, execute it with the engine, save every result.

Each worker thread owns its event loop and its own pooled database engine (app.core.db.thread_database):
`--pool=threads` runs tasks on several threads at once, and a connection must never cross event loops.
A sharded run's chunks are tasks too (run_chunk_task): any worker takes any chunk (app.runs.chunks).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Coroutine
from dataclasses import asdict
from typing import Any, TypeVar

from celery.signals import worker_process_init, worker_ready

from app.callbacks.service import resume_pending
from app.core.bootstrap import freeze_start_up
from app.core.config import get_settings
from app.core.db import thread_database
from app.notifications.delivery import left_on, send_left_here
from app.notifications.delivery import resume_pending as resume_notifications
from app.plans.progress import reconcile as reconcile_plan_runs
from app.reports.retention import prune
from app.runs.chunks import execute_chunk
from app.runs.executor import execute_run, reap_stale_runs, worker_name
from app.tasks.celery_app import celery_app

logger = logging.getLogger("exile.worker")
T = TypeVar("T")


@celery_app.task(name="run_scenario_task", acks_late=True, reject_on_worker_lost=True)
def run_scenario_task(scenario_run_id: int) -> str | None:
    """Execute one ScenarioRun; a second delivery of the same run finds it claimed and does nothing."""
    loop, sessions = thread_database()
    owner = f"{worker_name('celery')}:{threading.get_ident()}"
    return _run(loop, execute_run(sessions, scenario_run_id, owner), f"run-{scenario_run_id}")


@celery_app.task(name="run_chunk_task", acks_late=True, reject_on_worker_lost=True)
def run_chunk_task(scenario_run_id: int, position: int) -> str | None:
    """Execute one chunk of a sharded run; the chunk that ends last runs teardown and ends the run."""
    loop, sessions = thread_database()
    owner = f"{worker_name('celery')}:{threading.get_ident()}"
    work = execute_chunk(sessions, scenario_run_id, position, owner)
    return _run(loop, work, f"run-{scenario_run_id}-chunk-{position}")


def _run(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, T], label: str) -> T:
    """Run a task's coroutine on its thread's loop, then send the notifications it recorded (a run it ended);
    EXILE_TASK_PROFILE_DIR=dir saves a cProfile of each task."""
    try:
        return _run_work(loop, work, label)
    finally:
        if left_on(loop):
            loop.run_until_complete(send_left_here())


def _run_work(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, T], label: str) -> T:
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
    loop, sessions = thread_database()
    settings = get_settings()
    reaped = loop.run_until_complete(
        reap_stale_runs(sessions, settings.run_stale_after_seconds, settings.run_queued_timeout_seconds)
    )
    loop.run_until_complete(reconcile_plan_runs(sessions))  # plan runs whose scenario runs ended uncounted
    return reaped


@celery_app.task(name="resume_callbacks_task")
def resume_callbacks_task() -> int:
    """Send the run callbacks a dead process left pending (app.callbacks.service.resume_pending)."""
    loop, sessions = thread_database()
    return loop.run_until_complete(resume_pending(sessions))


@celery_app.task(name="resume_notifications_task")
def resume_notifications_task() -> int:
    """Send the notifications a dead process left pending (app.notifications.delivery.resume_pending)."""
    loop, sessions = thread_database()
    return loop.run_until_complete(resume_notifications(sessions))


@celery_app.task(name="prune_task")
def prune_task() -> dict[str, int]:
    """Apply the projects' retention (app.reports.retention); what it did, as counts."""
    loop, sessions = thread_database()
    return asdict(loop.run_until_complete(prune(sessions)))


@worker_ready.connect  # the worker's own process (where --pool=threads runs tasks)
@worker_process_init.connect  # each process of --pool=prefork
def _freeze_start_up(**_kwargs: object) -> None:
    freeze_start_up()


@worker_ready.connect
def _start_reaper(**_kwargs: object) -> None:
    """Workers also end runs whose executor died, so a deployment without an API process still heals."""

    def loop() -> None:
        while True:
            try:
                reap_stale_runs_task()
            except Exception:
                logger.exception("reaping stale runs failed")
            try:  # at start (what a dead process left) and every tick after
                resume_callbacks_task()
            except Exception:
                logger.exception("sending pending run callbacks failed")
            try:
                resume_notifications_task()
            except Exception:
                logger.exception("sending pending notifications failed")
            time.sleep(get_settings().run_reaper_interval_seconds)

    threading.Thread(target=loop, name="exile-reaper", daemon=True).start()


@worker_ready.connect
def _start_pruner(**_kwargs: object) -> None:
    """Workers apply retention too (at start, then every RETENTION_INTERVAL_SECONDS; 0: never here)."""
    interval_seconds = get_settings().retention_interval_seconds
    if interval_seconds <= 0:
        return

    def loop() -> None:
        while True:
            try:
                counts = prune_task()
                if counts["bodies_cleared"] or counts["request_runs_deleted"] or counts["runs_not_rolled_up"]:
                    logger.info("retention: %s", counts)
            except Exception:
                logger.exception("pruning old runs failed")
            time.sleep(interval_seconds)

    threading.Thread(target=loop, name="exile-retention", daemon=True).start()
