"""A run ended on a Celery worker is announced by that worker when it ends, not at the next sweep."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from app.models import ScenarioRun
from tests.conftest import count_rows
from tests.notifications.conftest import API, add_channel, deliveries, flow_on
from tests.notifications.test_deliveries import channels_for
from tests.runs.test_celery import REDIS_URL, Worker, use_broker


@pytest.mark.skipif(not REDIS_URL, reason="set TEST_REDIS_URL to run the Celery worker tests")
async def test_a_run_a_worker_ends_is_announced_by_that_worker(api, platforms, monkeypatch, tmp_path: Path):
    use_broker(monkeypatch)
    ids = await flow_on(api, platforms)
    settings = channels_for(platforms, "worker")["webhook"]
    channel = await add_channel(
        api, ids["project"], {"name": "w", "type": "webhook", "events": ["run_finished"], **settings}
    )
    # The worker's sweep runs at its start and then only after an hour: what arrives is the worker's own send.
    worker = Worker(tmp_path / "worker.log", settings={"RUN_REAPER_INTERVAL_SECONDS": "3600"})
    try:
        started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 60
        while not platforms.of("worker-webhook"):
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
            await asyncio.sleep(0.1)
    finally:
        worker.stop()
    run = (await api.get(f"{API}/scenario-runs/{started.json()['id']}")).json()
    assert run["status"] == "passed" and run["executor"] == "celery"
    [received] = platforms.of("worker-webhook")
    assert received.verdict == "ok" and received.json["details"]["run_id"] == run["id"]
    [done] = await deliveries(api, channel["id"])
    assert done["status"] == "delivered" and done["attempts"] == 1
    assert await count_rows(ScenarioRun) == 1
