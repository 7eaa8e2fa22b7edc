"""The rate limit shared by every process running chunks of a run: a token bucket in a real Redis.

The Redis tests are skipped without TEST_REDIS_URL (like test_celery.py); the fallback to the in-process limiter
when Redis is unreachable runs everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from redis.asyncio import Redis

from app.core.config import get_settings
from app.engine.ratelimit import LocalRateLimiter
from app.engine.results import ListSink
from app.engine.runner import FlowRunner
from app.engine.specs import EnvironmentSpec, FlowSpec, RateLimit, RunOptions
from app.engine.transport import AiohttpTransport
from app.runs.rate_limit import RedisRateLimiter, run_limiter
from tests.engine.conftest import rows, step
from tests.local_server import serving
from tests.runs.conftest import Target, order_flow, set_rows, wait_until_finished
from tests.runs.test_celery import Worker

REDIS_URL = os.environ.get("TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set TEST_REDIS_URL to run the shared rate limit tests")
UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture
async def limiters() -> AsyncIterator[list[RedisRateLimiter]]:
    """Limiters made by the test (each with its own Redis client, as separate processes have); their keys go."""
    made: list[RedisRateLimiter] = []
    yield made
    for limiter in made:
        keys = [key async for key in limiter.redis.scan_iter(match=f"exile:rate:{limiter.run_id}:*")]
        if keys:
            await limiter.redis.delete(*keys)
        await limiter.close()


def make(made: list[RedisRateLimiter], run_id: str, per_second: float, burst: int = 1) -> RedisRateLimiter:
    assert REDIS_URL
    limiter = RedisRateLimiter(REDIS_URL, run_id, per_second, burst)
    made.append(limiter)
    return limiter


@needs_redis
async def test_two_processes_share_one_budget_per_run_and_host(limiters: list[RedisRateLimiter]):
    run_id = f"t-{uuid.uuid4().hex[:8]}"
    per_second, burst, window = 20, 1, 1.5
    first, second = make(limiters, run_id, per_second, burst), make(limiters, run_id, per_second, burst)
    taken: list[tuple[str, float]] = []

    async def take(name: str, limiter: RedisRateLimiter, deadline: float) -> None:
        while True:
            await limiter.acquire("api.example:443")
            now = time.monotonic()
            if now > deadline:
                return
            taken.append((name, now))

    started = time.monotonic()
    deadline = started + window
    # Four requests in flight in each "process": eight callers competing for one bucket.
    await asyncio.wait_for(
        asyncio.gather(*(take(name, limiter, deadline) for name, limiter in [("a", first), ("b", second)] * 4)),
        timeout=30,
    )
    budget = per_second * window + burst
    assert len(taken) <= budget + 2  # +2: the two clocks' scheduling slack at the window's edges
    assert len(taken) >= 0.7 * per_second * window  # the budget is used, not starved
    assert {name for name, _ in taken} == {"a", "b"}  # both processes got requests through
    for k, (_, at) in enumerate(sorted(taken, key=lambda t: t[1])):
        assert k + 1 <= burst + per_second * (at - started) + 2, (k, at - started)


@needs_redis
async def test_other_runs_and_other_hosts_have_their_own_bucket(limiters: list[RedisRateLimiter]):
    run_a, run_b = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    # 0.5 a second, burst 1: the second token of a bucket is about 2 s away.
    a, a_again, b = make(limiters, run_a, 0.5), make(limiters, run_a, 0.5), make(limiters, run_b, 0.5)
    assert await a.reserve("one.example") == 0
    assert await b.reserve("one.example") == 0  # another run: its own bucket
    assert await a.reserve("two.example") == 0  # another host: its own bucket
    waited = await a_again.reserve("one.example")  # the same run and host, from another process: waits
    assert 1.5 < waited <= 2.0
    assert await a.redis.exists(a.key("one.example"), a.key("two.example"), b.key("one.example")) == 3
    assert 0 < await a.redis.pttl(a.key("one.example")) <= 5000  # the bucket expires once it would be full


@needs_redis
async def test_the_script_is_sent_once_then_called_by_its_digest(limiters: list[RedisRateLimiter]):
    first = make(limiters, f"t-{uuid.uuid4().hex[:8]}", 1, 100)
    await first.redis.script_flush()  # as after a Redis restart: the script is unknown
    for _ in range(20):
        await first.acquire("api.example")
    # Scripts are server-wide and CI's parallel passes share one Redis: another pass's SCRIPT FLUSH may force
    # one more load. Either way the script is not sent per call.
    assert 1 <= first.script_sends <= 2
    second = make(limiters, first.run_id, 1, 100)  # another process: the script is already in Redis
    for _ in range(20):
        await second.acquire("api.example")
    assert second.script_sends <= 1
    tokens = float(await first.redis.hget(first.key("api.example"), "tokens"))
    assert 60 <= tokens < 65  # all 40 came out of the one bucket (plus what refilled at 1 a second meanwhile)


@pytest.fixture
async def arrivals_target() -> AsyncIterator[tuple[str, list[float]]]:
    """A real HTTP target that notes when each request arrives (time.monotonic)."""
    arrivals: list[float] = []

    async def hit(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        return web.json_response({"code": 0})

    app = web.Application()
    app.router.add_get("/hit", hit)
    async with serving(app) as url:
        yield url, arrivals


@needs_redis
async def test_two_chunks_of_a_run_send_to_the_target_at_the_shared_rate(
    arrivals_target: tuple[str, list[float]], limiters: list[RedisRateLimiter]
):
    """Two runners (two chunks of one run) over a real target: it sees the shared rate, not twice it."""
    url, arrivals = arrivals_target
    run_id = f"t-{uuid.uuid4().hex[:8]}"
    per_second, burst = 20, 2

    async def chunk(limiter: RedisRateLimiter) -> None:
        flow = FlowSpec(
            steps=[step("hit", url="/hit")],
            environment=EnvironmentSpec(base_url=url),
            rows=rows(*({} for _ in range(10))),
        )
        options = RunOptions(concurrency=4, rate_limit={"per_second": per_second, "burst": burst})
        transport = AiohttpTransport()
        try:
            outcome = await FlowRunner(flow, options, transport, ListSink(), limiter=limiter).run()
        finally:
            await transport.close()
        assert outcome.iterations.passed == 10

    started = time.monotonic()
    await asyncio.gather(*(chunk(make(limiters, run_id, per_second, burst)) for _ in range(2)))
    assert len(arrivals) == 20
    # 20 requests at 20/s with a burst of 2 take about 0.9 s however the two chunks interleave (alone: 0.4 s each).
    assert max(arrivals) - started >= 0.7
    for k, at in enumerate(sorted(arrivals)):
        assert k + 1 <= burst + per_second * (at - started) + 2, (k, at - started)


async def test_an_unreachable_redis_falls_back_to_the_in_process_limit_and_warns_once(
    caplog: pytest.LogCaptureFixture,
):
    limiter = RedisRateLimiter(UNREACHABLE, "t-down", 20, 1)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="exile.runs.rate_limit"):
            for _ in range(10):
                await asyncio.wait_for(limiter.acquire("api.example"), timeout=10)  # never fails, never hangs
        elapsed = time.monotonic() - started
    finally:
        await limiter.close()
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1 and "t-down" in warnings[0].getMessage()
    assert elapsed >= 0.35  # still limited: 10 at 20/s with a burst of 1 take about 0.45 s


async def test_the_executor_shares_the_limit_through_a_redis_broker_only():
    rate = RateLimit(per_second=5, burst=2)
    assert run_limiter("redis://127.0.0.1:6379/0", 7, RateLimit()) is None  # no rate limit: no limiter at all
    shared = run_limiter("redis://127.0.0.1:6379/0", 7, rate)
    assert isinstance(shared, RedisRateLimiter) and shared.key("h:80") == "exile:rate:7:h:80"
    assert (shared.per_second, shared.burst) == (5.0, 2)
    await shared.close()
    assert isinstance(run_limiter(None, 7, rate), LocalRateLimiter)
    assert isinstance(run_limiter("amqp://guest@localhost//", 7, rate), LocalRateLimiter)


@needs_redis
async def test_a_run_on_a_celery_worker_takes_its_rate_limit_from_redis(
    api: httpx.AsyncClient, target: Target, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    assert REDIS_URL
    ids = await order_flow(api, target, settings={"concurrency": 3, "rate_limit": {"per_second": 4, "burst": 1}})
    await set_rows(api, ids["scenario"], [{"username": f"u{i}", "sku": f"s{i}", "qty": i} for i in range(3)])
    client = Redis.from_url(REDIS_URL)
    await client.flushdb()  # as test_celery does: no task left in the queue from another test database
    monkeypatch.setattr(get_settings(), "celery_broker_url", REDIS_URL)
    from app.tasks.celery_app import celery_app

    celery_app.conf.broker_url = REDIS_URL
    worker = Worker(tmp_path / "worker.log")
    try:
        started = time.monotonic()
        run = (await api.post(f"/api/v1/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})).json()
        assert run["executor"] == "celery"
        bucket = f"exile:rate:{run['id']}:{target.url.removeprefix('http://')}"
        seen = False
        while not seen and time.monotonic() - started < 30:
            seen = bool(await client.exists(bucket))
            await asyncio.sleep(0.05)
        final = await wait_until_finished(api, run["id"])
        elapsed = time.monotonic() - started
    finally:
        worker.stop()
        await client.aclose()
    assert seen, "the worker's run never used the shared bucket in Redis"
    assert final["status"] == "passed" and final["requests"]["total"] == 9
    assert elapsed >= 1.6  # 9 requests at 4 a second with a burst of 1: 2 s
