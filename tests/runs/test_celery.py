"""The Celery path with a real worker process and a real Redis broker (skipped without TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.core.config import get_settings
from app.core.db import get_session_factory
from app.models import ApiRequestRun, ScenarioRun
from app.runs.executor import reap_stale_runs
from tests.runs.conftest import order_flow, set_rows, wait_until_finished

REDIS_URL = os.environ.get("TEST_REDIS_URL")
ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="set TEST_REDIS_URL to run the Celery worker tests")


class Worker:
    """`celery -A app.tasks.celery_app:celery_app worker -Q exile_scenario_tasks --pool=threads --concurrency=8`."""

    def __init__(self, log: Path, *, via_exile_cli: bool = False) -> None:
        self.log = log
        env = {
            **os.environ,
            "CELERY_BROKER_URL": REDIS_URL or "",
            "RUN_HEARTBEAT_SECONDS": "0.2",
            "PYTHONPATH": str(ROOT),
        }
        command = [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "app.tasks.celery_app:celery_app",
            "worker",
            "-Q",
            "exile_scenario_tasks",
            "--pool=threads",
            "--concurrency=8",
            "--loglevel=INFO",
            "-n",
            f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if via_exile_cli:  # `uv run exile worker` starts the same worker with the same defaults
            command = [str(Path(sys.executable).parent / "exile"), "worker", "--loglevel", "INFO"]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            assert self.process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the worker did not start:\n" + log.read_text()
            time.sleep(0.1)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import redis

    assert REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()
    monkeypatch.setattr(get_settings(), "celery_broker_url", REDIS_URL)
    from app.tasks.celery_app import celery_app

    celery_app.conf.broker_url = REDIS_URL
    yield REDIS_URL


@pytest.fixture
def worker(broker: str, tmp_path: Path) -> Iterator[Worker]:
    started = Worker(tmp_path / "worker.log", via_exile_cli=True)
    yield started
    started.stop()


def _comparable(record: ApiRequestRun) -> tuple[Any, ...]:
    response = record.response or {}
    return (
        record.iteration,
        record.step_key,
        record.attempt,
        record.is_final,
        record.status,
        (record.request or {}).get("url"),
        (record.request or {}).get("body"),
        response.get("status"),
        response.get("body"),
        [(a["source"], a["passed"], a["actual"]) for a in record.assertions],
        record.extracted,
        record.error,
    )


async def _records(run_id: int) -> list[tuple[Any, ...]]:
    async with get_session_factory()() as session:
        rows = await session.scalars(select(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run_id))
        return sorted((_comparable(r) for r in rows), key=repr)


async def test_a_celery_worker_gives_the_same_records_as_the_inline_executor(api, target, monkeypatch, tmp_path):
    ids = await order_flow(api, target, settings={"concurrency": 3})
    await set_rows(
        api, ids["scenario"], [{"username": f"u{i}", "sku": "bad" if i == 2 else f"s{i}", "qty": i} for i in range(6)]
    )
    body = {"environment_id": ids["env"]}
    inline = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json=body)).json()
    inline = await wait_until_finished(api, inline["id"])
    assert inline["executor"] == "inline"

    import redis

    assert REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()
    monkeypatch.setattr(get_settings(), "celery_broker_url", REDIS_URL)
    from app.tasks.celery_app import celery_app

    celery_app.conf.broker_url = REDIS_URL
    worker = Worker(tmp_path / "worker.log")
    try:
        queued = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json=body)).json()
        assert queued["executor"] == "celery" and queued["status"] == "queued"
        remote = await wait_until_finished(api, queued["id"])
    finally:
        worker.stop()
    assert remote["status"] == inline["status"] == "failed"
    assert remote["iterations"] == inline["iterations"] and remote["requests"] == inline["requests"]
    async with get_session_factory()() as session:
        owner = await session.scalar(select(ScenarioRun.owner).where(ScenarioRun.id == remote["id"]))
    assert owner and owner.startswith("celery:")
    assert await _records(remote["id"]) == await _records(inline["id"])


async def test_cancel_reaches_a_run_executing_in_a_worker(api, target, worker):
    ids = await order_flow(api, target)
    slow = (
        await api.post(
            f"{API}/cases", json={"project_id": ids["project"], "name": "slow", "method": "GET", "url": "/slow?ms=150"}
        )
    ).json()
    flow = (await api.post(f"{API}/scenarios", json={"project_id": ids["project"], "name": "slow"})).json()
    await api.put(f"{API}/scenarios/{flow['id']}/steps", json=[{"case_id": slow["id"]}])
    await set_rows(api, flow["id"], [{} for _ in range(40)])
    run = (await api.post(f"{API}/scenarios/{flow['id']}/runs", json={"environment_id": ids["env"]})).json()
    while target.hits["slow"] < 3:  # noqa: ASYNC110 - the target runs in this loop
        await asyncio.sleep(0.05)
    assert (await api.post(f"{API}/scenario-runs/{run['id']}/cancel")).status_code == 200
    final = await wait_until_finished(api, run["id"])
    assert final["status"] == "cancelled"
    assert target.hits["slow"] < 40


async def test_a_killed_worker_leaves_an_interrupted_run_with_no_request_recorded_twice(api, target, broker, tmp_path):
    ids = await order_flow(api, target)
    slow = (
        await api.post(
            f"{API}/cases", json={"project_id": ids["project"], "name": "slow", "method": "GET", "url": "/slow?ms=100"}
        )
    ).json()
    flow = (await api.post(f"{API}/scenarios", json={"project_id": ids["project"], "name": "slow"})).json()
    await api.put(f"{API}/scenarios/{flow['id']}/steps", json=[{"case_id": slow["id"]}])
    await set_rows(api, flow["id"], [{} for _ in range(60)])
    first = Worker(tmp_path / "first.log")
    run = (await api.post(f"{API}/scenarios/{flow['id']}/runs", json={"environment_id": ids["env"]})).json()
    while target.hits["slow"] < 5:  # noqa: ASYNC110 - the target runs in this loop
        await asyncio.sleep(0.05)
    first.kill()
    await asyncio.sleep(0.6)
    assert (await api.get(f"{API}/scenario-runs/{run['id']}")).json()["status"] == "running"
    assert await reap_stale_runs(get_session_factory(), stale_after_s=0.5) == 1
    interrupted = (await api.get(f"{API}/scenario-runs/{run['id']}")).json()
    assert interrupted["status"] == "interrupted"

    async def recorded() -> int:
        async with get_session_factory()() as session:
            return int(
                await session.scalar(
                    select(func.count()).select_from(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run["id"])
                )
                or 0
            )

    before = await recorded()
    # The broker redelivers the unacknowledged task to the next worker: the claim makes it a no-op.
    second = Worker(tmp_path / "second.log")
    try:
        from app.tasks.scenario import run_scenario_task

        await asyncio.to_thread(run_scenario_task.delay, run["id"])
        deadline = time.monotonic() + 20
        while "already claimed" not in (tmp_path / "second.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "second.log").read_text()
            await asyncio.sleep(0.1)
    finally:
        second.stop()
    assert await recorded() == before
    async with get_session_factory()() as session:
        duplicates = (
            await session.execute(
                select(
                    ApiRequestRun.iteration,
                    ApiRequestRun.step_key,
                    ApiRequestRun.attempt,
                    ApiRequestRun.iteration_attempt,
                )
                .where(ApiRequestRun.scenario_run_id == run["id"])
                .group_by(
                    ApiRequestRun.iteration,
                    ApiRequestRun.step_key,
                    ApiRequestRun.attempt,
                    ApiRequestRun.iteration_attempt,
                )
                .having(func.count() > 1)
            )
        ).all()
    assert duplicates == []
    assert (await api.get(f"{API}/scenario-runs/{run['id']}")).json()["status"] == "interrupted"
