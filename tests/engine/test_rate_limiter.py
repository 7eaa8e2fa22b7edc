"""The runner waits on the limiter it is handed (keyed by host) and uses the in-process one otherwise."""

from __future__ import annotations

from app.engine.ratelimit import LocalRateLimiter, local_limiter
from app.engine.results import ListSink
from app.engine.runner import FlowRunner
from app.engine.specs import EnvironmentSpec, FlowSpec, RateLimit, RunOptions
from app.engine.transport import AiohttpTransport
from tests.engine.conftest import Target, rows, step


class RecordingLimiter:
    """A limiter that lets everything through and remembers the keys it was asked for."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    async def acquire(self, key: str) -> None:
        self.keys.append(key)


async def test_the_runner_acquires_the_handed_limiter_once_per_send_keyed_by_host(
    target: Target, transport: AiohttpTransport
):
    other_host = target.url.replace("127.0.0.1", "localhost")
    flow = FlowSpec(
        steps=[step("a", url="/echo"), step("b", url=other_host + "/echo")],
        environment=EnvironmentSpec(base_url=target.url),
        rows=rows({}, {}, {}),
    )
    limiter = RecordingLimiter()
    # The handed limiter wins over the in-process one the rate_limit option would build.
    options = RunOptions(concurrency=2, rate_limit={"per_second": 0.001, "burst": 1})
    outcome = await FlowRunner(flow, options, transport, ListSink(), limiter=limiter).run()
    assert outcome.iterations.passed == 3
    assert target.count() == 6
    local, other = target.url.removeprefix("http://"), other_host.removeprefix("http://")
    assert sorted(limiter.keys) == sorted([local] * 3 + [other] * 3)


def test_the_in_process_limiter_is_built_from_the_rate_limit_setting_only_when_one_is_set():
    assert local_limiter(RateLimit()) is None and local_limiter(None) is None
    assert local_limiter(RateLimit(per_second=None, burst=3)) is None
    built = local_limiter(RateLimit(per_second=20, burst=4))
    assert isinstance(built, LocalRateLimiter) and (built.per_second, built.burst) == (20.0, 4.0)
    assert local_limiter(RateLimit(per_second=5)).burst == 1.0  # type: ignore[union-attr]
