"""The Celery app. Workers consume `exile_scenario_tasks`:

uv run celery -A app.tasks.celery_app:celery_app worker -Q exile_scenario_tasks --pool=threads --concurrency=8
"""

from __future__ import annotations

from celery import Celery

from app.core.config import get_settings

settings = get_settings()
celery_app = Celery(
    "exile",
    broker=settings.celery_broker_url or "redis://127.0.0.1:6379/0",
    backend=settings.celery_result_backend,
    include=["app.tasks.scenario", "app.tasks.schedules"],
)
celery_app.conf.update(
    task_default_queue="exile_scenario_tasks",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    # Longer than any run: a redelivery of a run in progress is absorbed by the atomic claim anyway.
    # socket_connect_timeout: an unreachable broker answers the API with 503 in seconds, not minutes.
    broker_transport_options={"visibility_timeout": 12 * 3600, "socket_connect_timeout": 5},
    task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
