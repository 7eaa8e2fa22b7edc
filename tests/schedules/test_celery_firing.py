"""Celery workers fire schedules too: two real workers (Redis) race for each tick; each tick runs once, on a worker.

Skipped without TEST_REDIS_URL (as the other Celery tests are).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.core.db import get_session_factory
from app.models import ScenarioRun, ScheduleFire
from tests.runs.test_celery import REDIS_URL, Worker, use_broker
from tests.schedules.conftest import Flow

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="set TEST_REDIS_URL to run the Celery worker tests")


async def test_two_workers_fire_each_tick_once_and_run_it(
    api: httpx.AsyncClient, flow: Flow, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_broker(monkeypatch)
    workers = [Worker(tmp_path / f"worker-{n}.log") for n in range(2)]
    try:
        body = {"name": "every 10 s", "scenario_id": flow.scenario_id, "cron": "*/10 * * * * *", "timezone": "UTC"}
        created = await api.post("/api/v1/schedules", json={**body, "environment_id": flow.environment_id})
        assert created.status_code == 201, created.text
        schedule_id = created.json()["id"]
        deadline = asyncio.get_running_loop().time() + 60
        while True:  # until two ticks have run to their end on the workers
            async with get_session_factory()() as session:
                fires = list(await session.scalars(select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)))
                runs = list(await session.scalars(select(ScenarioRun).where(ScenarioRun.trigger == "schedule")))
            if len(fires) >= 2 and all(run.status == "passed" for run in runs) and len(runs) >= 2:
                break
            assert asyncio.get_running_loop().time() < deadline, (fires, runs)
            await asyncio.sleep(0.2)
        api_patch = {"version": created.json()["version"], "enabled": False}
        assert (await api.patch(f"/api/v1/schedules/{schedule_id}", json=api_patch)).status_code == 200
    finally:
        for worker in workers:
            worker.stop()
    async with get_session_factory()() as session:
        fires = list(await session.scalars(select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)))
        runs = list(await session.scalars(select(ScenarioRun).where(ScenarioRun.trigger == "schedule")))
    assert all(fire.outcome == "fired" and fire.recorded_by.startswith("celery-schedules:") for fire in fires)
    assert Counter(run.ci["schedule_tick"] for run in runs) == Counter(f.tick_at.isoformat() for f in fires)
    assert {run.executor for run in runs} == {"celery"} and {run.id for run in runs} == {f.run_id for f in fires}
