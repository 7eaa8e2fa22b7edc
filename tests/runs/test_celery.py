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
from tests.runs.conftest import comparable, order_flow, set_rows, wait_until_finished

REDIS_URL = os.environ.get("TEST_REDIS_URL")
ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="set TEST_REDIS_URL to run the Celery worker tests")


class Worker:
    """`celery -A app.tasks.celery_app:celery_app worker -Q exile_scenario_tasks --pool=threads --concurrency=8`."""

    def __init__(self, log: Path, *, via_exile_cli: bool = False, settings: dict[str, str] | None = None) -> None:
        self.log = log
        env = {
            **os.environ,
            "CELERY_BROKER_URL": REDIS_URL or "",
            "RUN_HEARTBEAT_SECONDS": "0.2",
            "PYTHONPATH": str(ROOT),
            **(settings or {}),
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


def use_broker(monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs go to the workers through an empty Redis."""
    import redis

    assert REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()
    monkeypatch.setattr(get_settings(), "celery_broker_url", REDIS_URL)
    from app.tasks.celery_app import celery_app

    celery_app.conf.broker_url = REDIS_URL
    return REDIS_URL


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    yield use_broker(monkeypatch)


@pytest.fixture
def worker(broker: str, tmp_path: Path) -> Iterator[Worker]:
    started = Worker(tmp_path / "worker.log", via_exile_cli=True)
    yield started
    started.stop()


async def _records(run_id: int) -> list[tuple[Any, ...]]:
    async with get_session_factory()() as session:
        rows = await session.scalars(select(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run_id))
        return sorted((comparable(r) for r in rows), key=repr)


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


async def _slow_scenario(api, target, rows: int, ms: int, concurrency: int = 1) -> dict[str, Any]:
    ids = await order_flow(api, target)
    slow = (
        await api.post(
            f"{API}/cases",
            json={"project_id": ids["project"], "name": "slow", "method": "GET", "url": f"/slow?ms={ms}"},
        )
    ).json()
    flow = (
        await api.post(
            f"{API}/scenarios",
            json={"project_id": ids["project"], "name": "slow", "settings": {"concurrency": concurrency}},
        )
    ).json()
    await api.put(f"{API}/scenarios/{flow['id']}/steps", json=[{"case_id": slow["id"]}])
    await set_rows(api, flow["id"], [{} for _ in range(rows)])
    return {**ids, "slow": slow["id"], "slow_flow": flow["id"]}


async def _recorded(run_id: int) -> int:
    async with get_session_factory()() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run_id)
            )
            or 0
        )


async def test_sigkill_loses_at_most_a_second_of_results_and_the_run_is_interrupted_in_time(
    api, target, broker, tmp_path, monkeypatch
):
    """The README's guarantee: a killed executor loses at most ~RUN_FLUSH_SECONDS (default 0.5 s) of results."""
    stale_after, reaper_interval, concurrency = 4.0, 0.25, 4
    monkeypatch.setattr(get_settings(), "run_stale_after_seconds", stale_after)
    monkeypatch.setattr(get_settings(), "run_reaper_interval_seconds", reaper_interval)
    ids = await _slow_scenario(api, target, rows=3000, ms=10, concurrency=concurrency)
    # Default heartbeat (2 s) and flush bound (0.5 s); batches larger than the run, so only time flushes.
    # Not sharded (one chunk): a sharded run's chunks would wait for another worker (test_sharded_runs.py).
    settings = {"RUN_HEARTBEAT_SECONDS": "2.0", "RUN_BATCH_SIZE": "5000", "RUN_CHUNK_ROWS": "100000"}
    worker = Worker(tmp_path / "worker.log", settings=settings)
    run = (await api.post(f"{API}/scenarios/{ids['slow_flow']}/runs", json={"environment_id": ids["env"]})).json()
    while target.hits["slow"] == 0:  # noqa: ASYNC110 - the target runs in this loop
        await asyncio.sleep(0.01)
    first_hit = time.monotonic()
    await asyncio.sleep(2.5)
    worker.kill()
    killed = time.monotonic()
    await asyncio.sleep(0.2)  # requests the dead worker had in flight have all arrived by now
    received = target.hits["slow"]
    rate = received / (killed - first_hit)
    from app.main import _reap_forever  # the API process's reaper loop, with the short settings above

    reaper = asyncio.ensure_future(_reap_forever())
    try:
        while (await api.get(f"{API}/scenario-runs/{run['id']}")).json()["status"] == "running":
            assert time.monotonic() - killed < stale_after + reaper_interval + 2, "not interrupted in time"
            await asyncio.sleep(0.05)
    finally:
        reaper.cancel()
    interrupted_after = time.monotonic() - killed
    final = (await api.get(f"{API}/scenario-runs/{run['id']}")).json()
    recorded = await _recorded(run["id"])
    missing = received - recorded
    print(f"received {received} ({rate:.0f}/s), recorded {recorded}, missing {missing}; "
          f"interrupted {interrupted_after:.2f} s after the kill")  # fmt: skip
    assert final["status"] == "interrupted" and "heartbeats" in final["error"]
    assert received < 3000  # it was killed mid-run
    assert 0 <= missing <= rate * 1.0 + concurrency, (received, recorded, rate)
    assert final["requests"]["total"] == recorded  # the counts match the records that survived


async def test_send_with_a_broker_runs_on_a_worker_and_waits_for_it(api, target, worker, monkeypatch):
    ids = await order_flow(api, target)
    response = await api.post(
        f"{API}/cases/{ids['login']}/run", json={"environment_id": ids["env"], "variables": {"username": "amy"}}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["run"]["executor"] == "celery" and result["run"]["status"] == "passed"
    assert [item["extracted"] for item in result["items"]] == [{"token": "tok-amy"}]
    async with get_session_factory()() as session:
        owner = await session.scalar(select(ScenarioRun.owner).where(ScenarioRun.id == result["run"]["id"]))
    assert owner and owner.startswith("celery:")  # the record says who really ran it

    monkeypatch.setattr(get_settings(), "case_run_wait_seconds", 0.2)
    slow = (
        await api.post(
            f"{API}/cases", json={"project_id": ids["project"], "name": "slow", "method": "GET", "url": "/slow?ms=800"}
        )
    ).json()
    response = await api.post(f"{API}/cases/{slow['id']}/run", json={"environment_id": ids["env"]})
    assert response.status_code == 202, response.text
    assert response.json()["status"] in ("queued", "running")
    assert (await wait_until_finished(api, response.json()["id"]))["status"] == "passed"


async def test_a_lost_task_message_is_sent_once_more_then_the_run_ends_error(api, target, broker, tmp_path):
    import redis

    assert REDIS_URL
    lose_messages = redis.Redis.from_url(REDIS_URL).flushdb  # as a Redis restart without persistence would
    ids = await order_flow(api, target)
    await set_rows(api, ids["scenario"], [{"username": "u", "sku": "s", "qty": 1}])
    body = {"environment_id": ids["env"]}
    lost_twice = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json=body)).json()
    lose_messages()
    assert await reap_stale_runs(get_session_factory(), stale_after_s=20, queued_timeout_s=0) == 0  # sent again
    lose_messages()
    assert await reap_stale_runs(get_session_factory(), stale_after_s=20, queued_timeout_s=0) == 1
    ended = (await api.get(f"{API}/scenario-runs/{lost_twice['id']}")).json()
    assert ended["status"] == "error" and "no worker claimed the run" in ended["error"]

    lost_once = (await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json=body)).json()
    lose_messages()
    assert await reap_stale_runs(get_session_factory(), stale_after_s=20, queued_timeout_s=0) == 0
    worker = Worker(tmp_path / "worker.log")
    try:
        healed = await wait_until_finished(api, lost_once["id"])
    finally:
        worker.stop()
    assert healed["status"] == "passed" and healed["requests"]["total"] == 3
