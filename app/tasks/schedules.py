"""Celery workers fire schedules too (app.schedules.firing), so a deployment without an API process still runs them.

A thread per worker makes a pass every SCHEDULE_POLL_SECONDS on its own event loop and database engine
(app.core.db.thread_database); the database claim per tick keeps it to one fire however many workers and
API processes look at the same moment.
"""

from __future__ import annotations

import logging
import threading
import time

from celery.signals import worker_ready

from app.core.config import get_settings
from app.core.db import thread_database
from app.runs.executor import worker_name
from app.schedules.firing import tick

logger = logging.getLogger("exile.worker")


def fire_schedules_once(worker: str) -> None:
    """One pass: due ticks, then commit statuses of runs that ended."""
    loop, sessions = thread_database()
    loop.run_until_complete(tick(sessions, worker))


@worker_ready.connect
def _start_scheduler(**_kwargs: object) -> None:
    interval = get_settings().schedule_poll_seconds
    if interval <= 0:
        return
    worker = worker_name("celery-schedules")

    def loop() -> None:
        while True:
            try:
                fire_schedules_once(worker)
            except Exception:
                logger.exception("firing schedules failed")
            time.sleep(interval)

    threading.Thread(target=loop, name="exile-schedules", daemon=True).start()
