"""Plan runs on Celery workers: each scenario run's end, in a worker, starts the next one from there."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.config import get_settings
from app.core.db import get_session_factory
from app.models import ScenarioRun
from tests.plans.conftest import API, start, wait_for_plan_run
from tests.runs.test_celery import REDIS_URL, Worker, use_broker


async def _children(plan_run_id: int) -> list[ScenarioRun]:
    async with get_session_factory()() as session:
        rows = await session.scalars(
            select(ScenarioRun).where(ScenarioRun.plan_run_id == plan_run_id).order_by(ScenarioRun.id)
        )
        return list(rows)


@pytest.mark.skipif(not REDIS_URL, reason="set TEST_REDIS_URL to run the Celery worker tests")
async def test_a_plan_runs_on_workers_one_scenario_after_another(api, shop, target, monkeypatch, tmp_path: Path):
    use_broker(monkeypatch)
    ids = [
        await shop.scenario("login", ["/ok", "/slow?ms=20"]),
        await shop.scenario("checkout", ["/ok", "/broken"]),
        await shop.scenario("search", ["/slow?ms=20"]),
    ]
    plan = await shop.plan(ids, pass_criteria={"min_pass_rate": 0.95})
    worker = Worker(tmp_path / "worker.log")
    try:
        started = await start(api, plan["id"])
        ended = await wait_for_plan_run(api, started["id"])
    finally:
        worker.stop()
    assert ended["status"] == "failed", (tmp_path / "worker.log").read_text()[-3000:]
    assert [item["status"] for item in ended["items"]] == ["passed", "failed", "passed"]
    assert ended["requests"]["passed"] == 4 and ended["requests"]["failed"] == 1
    children = await _children(started["id"])
    assert [child.scenario_id for child in children] == ids
    assert all(child.executor == "celery" and (child.owner or "").startswith("celery:") for child in children)
    for earlier, later in itertools.pairwise(children):
        assert earlier.finished_at is not None and earlier.finished_at <= later.created_at
    junit = await api.get(f"{API}/plan-runs/{started['id']}/report", params={"format": "junit"})
    assert len(ET.fromstring(junit.content).findall("testsuite")) == 3


async def test_a_scenario_run_that_cannot_reach_the_workers_ends_error_and_stops_its_plan(api, shop, monkeypatch):
    """No broker listening: the run sent after the commit is ended `error`, and no further one is started."""
    from app.tasks.celery_app import celery_app

    unreachable = "redis://127.0.0.1:9/0"  # the discard port: nothing answers there
    monkeypatch.setattr(get_settings(), "celery_broker_url", unreachable)
    monkeypatch.setattr(celery_app.conf, "broker_url", unreachable)
    # Pools made for another broker earlier in this process would still reach it.
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)
    ids = [await shop.scenario("a", ["/ok"]), await shop.scenario("b", ["/ok"])]
    plan = await shop.plan(ids)
    started = await start(api, plan["id"])
    ended = await wait_for_plan_run(api, started["id"])
    assert ended["status"] == "error" and ended["stopped"] is True
    assert "task queue could not be reached" in ended["error"]
    assert [item["status"] for item in ended["items"]] == ["error", "skipped"]
    (child,) = await _children(started["id"])
    assert child.status == "error" and "task queue could not be reached" in (child.error or "")
