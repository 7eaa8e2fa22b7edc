"""Sharded runs in the API process (issue 8): a run's rows in chunks over a pool of processes.

Real processes (spawned, as the server spawns them), the real database and a real target: the records of
a sharded run must equal an unsharded run's, setup and teardown run once, a killed process's chunk runs
again without duplicating or losing a record, and cancel reaches every chunk.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update

from app.core.config import get_settings
from app.core.db import get_session_factory
from app.models import ApiRequestRun, ScenarioRun, ScenarioRunChunk
from app.reports.rollups import rebuild
from app.runs.chunks import shutdown_pool
from tests.reports.conftest import forget_rollups, rollup_table_rows
from tests.runs.conftest import Target, comparable, order_flow, set_rows, wait_until_finished

API = "/api/v1"


@pytest.fixture
def sharded(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Chunks of 3 rows over 2 processes; each test gets a fresh pool (its settings are the pool's)."""
    settings = get_settings()
    monkeypatch.setattr(settings, "run_processes", 2)
    monkeypatch.setattr(settings, "run_chunk_rows", 3)
    monkeypatch.setattr(settings, "run_heartbeat_seconds", 0.2)
    monkeypatch.setattr(settings, "run_flush_seconds", 0.05)  # a chunk's records show while it runs
    yield settings
    shutdown_pool()


async def records(run_id: int) -> list[ApiRequestRun]:
    async with get_session_factory()() as session:
        return list(await session.scalars(select(ApiRequestRun).where(ApiRequestRun.scenario_run_id == run_id)))


async def chunks(run_id: int) -> list[ScenarioRunChunk]:
    async with get_session_factory()() as session:
        return list(
            await session.scalars(
                select(ScenarioRunChunk).where(ScenarioRunChunk.run_id == run_id).order_by(ScenarioRunChunk.position)
            )
        )


async def checkout_with_setup(api: httpx.AsyncClient, target: Target, rows: int) -> dict[str, Any]:
    """Setup logs in once (the token reaches every chunk), steps order and pay per row, teardown once."""
    ids = await order_flow(api, target, settings={"concurrency": 4, "stop_on_failure": True})
    bye = await api.post(
        f"{API}/cases", json={"project_id": ids["project"], "name": "bye", "method": "GET", "url": "/slow?ms=1"}
    )
    assert bye.status_code == 201, bye.text
    patched = await api.patch(
        f"{API}/scenarios/{ids['scenario']}",
        json={
            "setup": [{"case_id": ids["login"], "variables": {"username": "boss"}}],
            "teardown": [{"case_id": bye.json()["id"]}],
            "version": 2,
        },
    )
    assert patched.status_code == 200, patched.text
    steps = [{"case_id": ids["order"]}, {"case_id": ids["pay"]}]
    assert (await api.put(f"{API}/scenarios/{ids['scenario']}/steps", json=steps)).status_code == 200
    await set_rows(api, ids["scenario"], [{"sku": "bad" if i == 4 else f"s{i}", "qty": i} for i in range(rows)])
    return ids


async def run_to_end(api: httpx.AsyncClient, ids: dict[str, Any], seconds: float = 60) -> dict[str, Any]:
    started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    assert started.status_code == 202, started.text
    return await wait_until_finished(api, started.json()["id"], seconds)


async def test_a_sharded_run_records_what_an_unsharded_run_records(api, target, sharded, monkeypatch):
    ids = await checkout_with_setup(api, target, rows=10)
    monkeypatch.setattr(sharded, "run_processes", 1)  # one process: not sharded
    whole = await run_to_end(api, ids)
    assert await chunks(whole["id"]) == []
    hits = dict(target.hits)
    monkeypatch.setattr(sharded, "run_processes", 2)
    split = await run_to_end(api, ids)

    parts = await chunks(split["id"])
    assert [(c.first_iteration, c.end_iteration) for c in parts] == [(0, 3), (3, 6), (6, 9), (9, None)]
    assert all(c.status in ("passed", "failed") and c.attempts == 1 for c in parts), parts
    assert all((c.owner or "").startswith("pool:") for c in parts)  # run by the pool's processes
    assert {(c.owner or "").rsplit(":", 1)[1] for c in parts} != {str(os.getpid())}
    # The same verdict, counts and error text, and the same records, ignoring order and timings.
    for field in ("status", "error", "iterations", "requests"):
        assert split[field] == whole[field], field
    assert split["status"] == "failed" and "1 of 10 iterations failed" in split["error"]
    whole_records, split_records = await records(whole["id"]), await records(split["id"])
    assert sorted(map(comparable, split_records), key=repr) == sorted(map(comparable, whole_records), key=repr)
    # Setup once (its token reached every chunk: every order passed), teardown once.
    assert [r.step_key for r in split_records].count("setup:0") == 1
    assert [r.step_key for r in split_records].count("teardown:0") == 1
    assert target.hits["login"] - hits["login"] == 1 and target.hits["slow"] - hits["slow"] == 1
    assert all(r.status == "passed" for r in split_records if r.step_key == "step:0")


async def slow_scenario(api: httpx.AsyncClient, target: Target, rows: int, ms: int, **settings: Any) -> dict[str, Any]:
    ids = await order_flow(api, target, settings={"concurrency": 2})
    slow = await api.post(
        f"{API}/cases", json={"project_id": ids["project"], "name": "slow", "method": "GET", "url": f"/slow?ms={ms}"}
    )
    flow = (
        await api.post(
            f"{API}/scenarios",
            json={
                "project_id": ids["project"],
                "name": "slow",
                "settings": {"concurrency": 2, **settings},
                "teardown": [{"case_id": slow.json()["id"]}],
            },
        )
    ).json()
    await api.put(f"{API}/scenarios/{flow['id']}/steps", json=[{"case_id": slow.json()["id"]}])
    await set_rows(api, flow["id"], [{"n": i} for i in range(rows)])
    return {**ids, "scenario": flow["id"]}


async def first_running_chunk(run_id: int, seconds: float = 30, logs: Sequence[Path] = ()) -> ScenarioRunChunk:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        parts = await chunks(run_id)
        running = [c for c in parts if c.status == "running"]
        if running:
            return running[0]
        async with get_session_factory()() as session:
            run = await session.get(ScenarioRun, run_id)
        seen = f"run {run and run.status} ({run and run.error}), chunks {[c.status for c in parts]}"
        assert run is not None and run.status in ("queued", "running"), f"no chunk seen running: {seen}"
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no chunk started: {seen}\n{await _what_the_database_waits_on()}\n{_tails(logs)}")
        await asyncio.sleep(0.05)


async def _what_the_database_waits_on() -> str:
    """Open transactions and what each waits on (MariaDB, PostgreSQL): what a run stuck `queued` waited behind."""
    queries = {
        "mysql": "SELECT trx_id, trx_state, trx_started, trx_wait_started, trx_mysql_thread_id, trx_rows_locked, "
        "LEFT(trx_query, 300) FROM information_schema.innodb_trx",
        "postgresql": "SELECT pid, state, xact_start, wait_event_type, wait_event, LEFT(query, 300) "
        "FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle'",
    }
    async with get_session_factory()() as session:
        query = queries.get(session.bind.dialect.name)
        rows = list(await session.execute(text(query))) if query else []
    return "open transactions:\n" + "\n".join(map(str, rows))


def _tails(logs: Sequence[Path]) -> str:
    return "\n".join(f"--- {log.name}:\n{log.read_text()[-4000:]}" for log in logs if log.exists())


async def test_a_killed_pool_process_costs_no_record_and_duplicates_none(api, target, sharded):
    ids = await slow_scenario(api, target, rows=18, ms=200)  # ~600 ms a chunk: killed while it runs
    started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    run_id = started.json()["id"]
    while True:  # a chunk that is running and has written records (they must not survive twice)
        victim = await first_running_chunk(run_id)
        written = [
            r for r in await records(run_id) if victim.first_iteration <= r.iteration < (victim.end_iteration or 99)
        ]
        still = next(c for c in await chunks(run_id) if c.id == victim.id)
        if written and still.status == "running" and still.owner == victim.owner:
            break
        await asyncio.sleep(0.02)
    os.kill(int((victim.owner or "").rsplit(":", 1)[1]), signal.SIGKILL)
    run = await wait_until_finished(api, run_id, 90)

    assert run["status"] == "passed", run
    parts = await chunks(run_id)
    assert next(c for c in parts if c.id == victim.id).attempts == 2  # the killed process's chunk ran again
    assert [c.status for c in parts] == ["passed"] * 6
    steps = sorted(r.iteration for r in await records(run_id) if r.step_key == "step:0")
    assert steps == list(range(18))  # every iteration once: none lost, none twice
    assert run["requests"]["passed"] == 19 and run["iterations"]["passed"] == 18
    # The run's end added up the chunks' sums (the killed one summed again from nothing): what a rebuild gives.
    assert all(c.result_sums and c.result_sums["usable"] for c in parts)
    counted = await rollup_table_rows()
    await forget_rollups()
    assert await rebuild(get_session_factory()) == 1
    assert await rollup_table_rows() == counted


async def test_a_case_edited_while_the_chunks_run_changes_none_of_them(api, target, sharded):
    """Every chunk runs the flow as it was when the run was planned, not as it is when the chunk starts."""
    ids = await slow_scenario(api, target, rows=18, ms=150)
    started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    run_id = started.json()["id"]
    await first_running_chunk(run_id)
    slow = (await records(run_id))[0].case_id if await records(run_id) else None
    steps = (await api.get(f"{API}/scenarios/{ids['scenario']}/steps")).json()
    case_id = slow or steps[0]["case_id"]
    case = (await api.get(f"{API}/cases/{case_id}")).json()
    edited = await api.patch(
        f"{API}/cases/{case_id}",
        json={"version": case["version"], "assertions": [{"source": "status_code", "expected": 418}]},
    )
    assert edited.status_code == 200, edited.text
    run = await wait_until_finished(api, run_id, 60)

    assert run["status"] == "passed", run  # the edit (a check that fails) reached no chunk
    parts = await chunks(run_id)
    assert len(parts) == 6 and all(c.status == "passed" for c in parts)
    assert all(r.assertions == [] for r in await records(run_id))


async def test_cancel_reaches_every_chunk_and_teardown_is_recorded_not_started(api, target, sharded):
    ids = await slow_scenario(api, target, rows=60, ms=200)  # ~6 s of work: the cancel lands mid-run
    started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    run_id = started.json()["id"]
    await first_running_chunk(run_id)
    deadline = asyncio.get_running_loop().time() + 30
    while (await api.get(f"{API}/scenario-runs/{run_id}")).json()["iterations"]["passed"] == 0:
        assert asyncio.get_running_loop().time() < deadline, "no progress reported while the chunks run"
        await asyncio.sleep(0.05)  # the chunks' progress adds up in the run's counts as they go
    assert (await api.post(f"{API}/scenario-runs/{run_id}/cancel")).status_code == 200
    run = await wait_until_finished(api, run_id, 60)

    assert run["status"] == "cancelled"
    assert target.hits["slow"] < 60
    parts = await chunks(run_id)
    assert "cancelled" in [c.status for c in parts] and all(c.status != "running" for c in parts)
    teardown = [r for r in await records(run_id) if r.step_key == "teardown:0"]
    assert len(teardown) == 1 and teardown[0].status == "skipped" and "not started" in (teardown[0].error or "")


# ---- Celery: any worker takes any chunk -----------------------------------------------------------------
REDIS_URL = os.environ.get("TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set TEST_REDIS_URL to run the Celery worker tests")


@needs_redis
async def test_killing_one_of_two_workers_leaves_no_duplicate_and_no_missing_record(api, target, monkeypatch, tmp_path):
    from tests.runs.test_celery import Worker, use_broker

    use_broker(monkeypatch)
    ids = await slow_scenario(api, target, rows=24, ms=200)  # ~600 ms a chunk: seen running, then killed
    chunked = {"RUN_CHUNK_ROWS": "3", "RUN_HEARTBEAT_SECONDS": "0.2", "RUN_PROCESSES": "2"}
    workers = [Worker(tmp_path / f"worker-{n}.log", settings=chunked) for n in range(2)]
    try:
        started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
        run_id = started.json()["id"]
        victim = await first_running_chunk(run_id, logs=[w.log for w in workers])
        pid = int((victim.owner or "").split(":")[2])  # celery:<host>:<pid>:<thread>
        dying = next(w for w in workers if w.process.pid == pid)
        dying.kill()
        survivor = next(w for w in workers if w is not dying)
        # The reaper (here: the API process's, with a short stale bound) hands the dead worker's chunks back.
        monkeypatch.setattr(get_settings(), "run_stale_after_seconds", 3.0)  # slack for a loaded CI machine
        monkeypatch.setattr(get_settings(), "run_reaper_interval_seconds", 0.2)
        from app.main import _reap_forever

        reaper = asyncio.ensure_future(_reap_forever())
        try:
            run = await wait_until_finished(api, run_id, 90)
        finally:
            reaper.cancel()
        assert survivor.process.poll() is None
    finally:
        for worker in workers:
            worker.stop()

    assert run["status"] == "passed", run
    parts = await chunks(run_id)
    assert [c.status for c in parts] == ["passed"] * 8
    assert max(c.attempts for c in parts) == 2 and victim.position in [c.position for c in parts if c.attempts == 2]
    assert {int((c.owner or "").split(":")[2]) for c in parts if c.attempts == 2} == {survivor.process.pid}
    steps = sorted(r.iteration for r in await records(run_id) if r.step_key == "step:0")
    assert steps == list(range(24))  # every iteration once: none lost, none twice
    assert run["requests"]["passed"] == 25 and run["iterations"]["passed"] == 24


async def test_a_rerun_of_the_failed_iterations_is_sharded_over_just_those(api, target, sharded):
    ids = await order_flow(api, target, settings={"concurrency": 2})
    bad = {1, 2, 5, 8, 9}
    await set_rows(
        api,
        ids["scenario"],
        [{"username": f"u{i}", "sku": "bad" if i in bad else f"s{i}", "qty": 1} for i in range(11)],
    )
    first = await run_to_end(api, ids)
    assert first["status"] == "failed" and first["iterations"]["failed"] == len(bad), (
        first["error"],
        first["iterations"],
    )
    again = await api.post(f"{API}/scenario-runs/{first['id']}/rerun", json={"only": "failed"})
    assert again.status_code == 202, again.text
    rerun = await wait_until_finished(api, again.json()["id"], 60)

    assert rerun["only_iterations"] == sorted(bad) and rerun["iterations"]["failed"] == len(bad)
    parts = await chunks(rerun["id"])
    assert [(c.first_iteration, c.end_iteration) for c in parts] == [(0, 8), (8, None)]  # [1, 2, 5] and [8, 9]
    assert sorted({r.iteration for r in await records(rerun["id"])}) == sorted(bad)
    assert rerun["error"].startswith("5 of 5 iterations failed (first: iteration 1, step 'pay' failed")


async def test_the_run_timeout_bounds_every_chunk(api, target, sharded):
    ids = await slow_scenario(api, target, rows=30, ms=200, timeout_ms=700)
    run = await run_to_end(api, ids)

    assert run["status"] == "error" and run["error"] == "run timed out after 700 ms", run
    assert target.hits["slow"] < 30
    assert all(c.status != "running" for c in await chunks(run["id"]))


@needs_redis
async def test_chunks_no_worker_claims_are_sent_again_then_end_the_run_error(api, target, sharded, monkeypatch):
    import redis

    from app.runs.chunks import reap_chunks
    from app.runs.executor import execute_run
    from tests.runs.test_celery import use_broker

    broker = redis.Redis.from_url(use_broker(monkeypatch))
    ids = await slow_scenario(api, target, rows=7, ms=1)
    started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    run_id = started.json()["id"]
    # No worker: this test plays the one that takes the run (setup, the first chunk right there, the other two
    # to the queue).
    assert await execute_run(get_session_factory(), run_id, "celery:test:1:1") is None
    assert [c.status for c in await chunks(run_id)] == ["passed", "queued", "queued"]
    sent = broker.llen("exile_scenario_tasks")

    await reap_chunks(get_session_factory(), stale_after_s=20, queued_timeout_s=0)
    assert broker.llen("exile_scenario_tasks") == sent + 2  # each sent once more
    assert all(c.redispatched_at is not None for c in (await chunks(run_id))[1:])
    await reap_chunks(get_session_factory(), stale_after_s=20, queued_timeout_s=0)

    run = (await api.get(f"{API}/scenario-runs/{run_id}")).json()
    assert run["status"] == "error" and run["error"].startswith("no worker claimed the chunk within 0 s"), run
    assert [c.status for c in await chunks(run_id)] == ["passed", "error", "error"]
    kept = await records(run_id)
    assert {r.iteration for r in kept} == {-1, 0, 1, 2}  # the first chunk's rows, and teardown
    assert [r.step_key for r in kept].count("teardown:0") == 1  # teardown still ran once, after the chunks ended


@needs_redis
async def test_a_chunk_taken_back_is_sent_again_even_when_the_reaper_fails_after_taking_it(
    api, target, sharded, monkeypatch
):
    """Taking a dead worker's chunk back queues it with no message anywhere: losing the resend to a later error
    (CI saw a locked SQLite there) left the run `running` for good."""
    from datetime import timedelta

    import redis
    from sqlalchemy.exc import OperationalError

    from app.models.base import utcnow
    from app.runs import chunks as chunk_module
    from app.runs.executor import execute_run
    from tests.runs.test_celery import use_broker

    broker = redis.Redis.from_url(use_broker(monkeypatch))
    ids = await slow_scenario(api, target, rows=7, ms=1)
    started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    run_id = started.json()["id"]
    assert await execute_run(get_session_factory(), run_id, "celery:test:1:1") is None
    dead = (await chunks(run_id))[0]
    async with get_session_factory()() as session:  # a worker claimed it, then died: its heartbeat is old
        await session.execute(
            update(ScenarioRunChunk)
            .where(ScenarioRunChunk.id == dead.id)
            .values(status="running", owner="celery:gone:1:1", heartbeat_at=utcnow() - timedelta(minutes=5))
        )
        await session.commit()
    sent = broker.llen("exile_scenario_tasks")

    async def locked(*_args: Any) -> int:
        raise OperationalError("UPDATE scenario_run_chunks", {}, Exception("database is locked"))

    monkeypatch.setattr(chunk_module, "_resend_unclaimed", locked)
    with pytest.raises(OperationalError):
        await chunk_module.reap_chunks(get_session_factory(), stale_after_s=20, queued_timeout_s=600)

    taken = next(c for c in await chunks(run_id) if c.id == dead.id)
    assert taken.status == "queued" and taken.owner is None
    assert broker.llen("exile_scenario_tasks") == sent + 1  # its message went out despite the error


async def test_one_in_flight_is_never_sharded(api, target, sharded):
    """Concurrency is the run's total in flight: at 1 the rows run one after another in one process."""
    ids = await slow_scenario(api, target, rows=8, ms=1, concurrency=1)
    run = await run_to_end(api, ids)
    assert run["status"] == "passed" and await chunks(run["id"]) == []


@needs_redis
async def test_the_chunk_that_ends_a_run_retries_its_recount_instead_of_leaving_the_run_to_the_reaper(
    api, target, sharded, monkeypatch
):
    """The last chunk holds the run's finisher claim: a database hiccup while it recounts (SQLite's lock held
    by another process, say) must not leave the run `running` for nobody to end."""
    from app.runs import chunks as chunk_module
    from app.runs.chunks import execute_chunk
    from app.runs.executor import execute_run
    from tests.runs.test_celery import use_broker

    use_broker(monkeypatch)
    ids = await slow_scenario(api, target, rows=6, ms=1)
    started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    run_id = started.json()["id"]
    # This test plays the workers: setup here, then each queued chunk in turn.
    assert await execute_run(get_session_factory(), run_id, "celery:test:1:1") is None
    real, failures = chunk_module.recount_requests, []

    async def hiccup(session, counted_run_id):  # fails twice, like a lock held past the busy timeout
        if len(failures) < 2:
            failures.append(counted_run_id)
            raise RuntimeError("database is locked")
        await real(session, counted_run_id)

    monkeypatch.setattr(chunk_module, "recount_requests", hiccup)
    for chunk in await chunks(run_id):
        await execute_chunk(get_session_factory(), run_id, chunk.position, f"celery:test:2:{chunk.position}")
    run = (await api.get(f"{API}/scenario-runs/{run_id}")).json()
    assert failures == [run_id, run_id]
    assert run["status"] == "passed", run
    assert run["requests"]["passed"] == len([r for r in await records(run_id) if r.is_final]) == 6 + 1  # + teardown
