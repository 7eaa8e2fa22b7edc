"""Step retry, scenario retry, polling, and the step and run timeouts."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from typing import Any

import pytest

from app.engine.specs import RunOptions
from tests.engine.clock import START, FakeClock
from tests.engine.conftest import Engine, rows, step

STATUS_200 = {"source": "status_code", "op": "eq", "expected": 200}


def retry(**fields: Any) -> dict[str, Any]:
    return {"max_attempts": 3, "backoff_ms": 5, **fields}


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing"


# ---- step retry ----------------------------------------------------------------------------------
async def test_every_attempt_is_recorded_and_only_the_last_is_final_and_flaky(engine: Engine, clock: FakeClock):
    run = await engine.run(step(url="/flaky?key=a&fail=2", retry=retry(), assertions=[STATUS_200]), clock=clock)
    attempts = run.of("step:0")
    assert clock.sleeps_ms == [5.0, 10.0]  # backoff_ms 5, then doubled (the default factor)
    assert [r.started_at - START for r in attempts] == [
        timedelta(0),
        timedelta(milliseconds=5),
        timedelta(milliseconds=15),
    ]
    assert [(r.attempt, r.status, r.is_final, r.flaky) for r in attempts] == [
        (1, "failed", False, False),
        (2, "failed", False, False),
        (3, "passed", True, True),
    ]
    assert [r.response["status"] for r in attempts] == [503, 503, 200]  # type: ignore[index]
    assert engine.target.count("/flaky") == 3
    assert run.outcome.status == "passed"
    assert run.outcome.requests.as_dict() == {"passed": 1, "failed": 0, "error": 0, "skipped": 0, "flaky": 1}


async def test_a_step_that_never_recovers_ends_with_its_last_attempt(engine: Engine):
    run = await engine.run(step(url="/flaky?key=b&fail=10", retry=retry(), assertions=[STATUS_200]))
    assert [(r.attempt, r.is_final, r.flaky) for r in run.of("step:0")] == [
        (1, False, False),
        (2, False, False),
        (3, True, False),
    ]
    assert run.one().status == "failed"
    assert run.outcome.requests.failed == 1 and run.outcome.requests.flaky == 0


async def test_on_status_decides_which_statuses_are_retried(engine: Engine):
    run = await engine.run(
        step("retried", url="/flaky?key=c&fail=1", retry=retry(on_status=[503])),
        step("not retried", url="/flaky?key=d&fail=1", retry=retry(on_status=[502])),
        options=RunOptions(stop_on_failure=False),
    )
    assert [r.response["status"] for r in run.of("step:0")] == [503, 200]  # type: ignore[index]
    assert [r.response["status"] for r in run.of("step:1")] == [503]  # type: ignore[index]
    assert run.one("step:1").status == "passed"  # no assertion says 503 is wrong


async def test_on_network_error_retries_connection_failures_only_when_asked(engine: Engine, closed_port_url: str):
    run = await engine.run(
        step("retried", url=closed_port_url, retry=retry(max_attempts=2)),
        step("not retried", url=closed_port_url, retry=retry(max_attempts=2, on_network_error=False)),
        options=RunOptions(stop_on_failure=False),
    )
    retried, not_retried = run.of("step:0"), run.of("step:1")
    assert [(r.status, r.is_final) for r in retried] == [("error", False), ("error", True)]
    assert [(r.status, r.is_final) for r in not_retried] == [("error", True)]
    assert retried[0].response is None
    assert retried[0].error is not None and "ClientConnectorError" in retried[0].error
    assert run.outcome.requests.error == 2


async def test_on_assertion_failure_retries_a_failed_check_only_when_asked(engine: Engine):
    wrong = [{"source": "body", "expression": "$.method", "op": "eq", "expected": "POST"}]
    run = await engine.run(
        step("default", assertions=wrong, retry=retry()),
        step("asked", assertions=wrong, retry=retry(on_assertion_failure=True)),
        options=RunOptions(stop_on_failure=False),
    )
    assert len(run.of("step:0")) == 1
    assert [r.attempt for r in run.of("step:1")] == [1, 2, 3]
    assert engine.target.count() == 4


async def test_backoff_grows_by_its_factor_and_stops_at_its_cap(engine: Engine, clock: FakeClock):
    run = await engine.run(
        step(
            url="/flaky?key=e&fail=4",
            retry=retry(max_attempts=5, backoff_ms=40, backoff_factor=3.0, max_backoff_ms=200),
        ),
        clock=clock,
    )
    assert clock.sleeps_ms == [40.0, 120.0, 200.0, 200.0]  # 40, 120, 360 capped at 200, capped
    assert engine.target.count("/flaky") == 5
    assert [r.attempt for r in run.of("step:0")] == [1, 2, 3, 4, 5]
    # Each attempt starts once its backoff is over; the backoff is not part of its duration.
    assert [(r.started_at - START) / timedelta(milliseconds=1) for r in run.of("step:0")] == [0, 40, 160, 360, 560]
    assert [r.duration_ms for r in run.of("step:0")] == [0.0] * 5  # a request takes no time on the fake clock


async def test_a_backoff_of_zero_does_not_sleep(engine: Engine, clock: FakeClock):
    run = await engine.run(step(url="/flaky?key=e0&fail=1", retry=retry(backoff_ms=0)), clock=clock)
    assert clock.sleeps == []
    assert [r.response["status"] for r in run.of("step:0")] == [503, 200]  # type: ignore[index]


# ---- scenario (iteration) retry ------------------------------------------------------------------
async def test_scenario_retry_reruns_a_failed_iteration_from_its_first_step(engine: Engine, clock: FakeClock):
    run = await engine.run(
        step("first"),
        step("flaky", url="/flaky?key=f&fail=1", assertions=[STATUS_200]),
        step("last"),
        options=RunOptions(retry={"max_attempts": 3, "backoff_ms": 5}),
        clock=clock,
    )
    assert clock.sleeps_ms == [5.0]  # one backoff between the two iteration attempts
    assert [r.started_at - START for r in run.results if r.iteration_attempt == 2] == [timedelta(milliseconds=5)] * 3
    assert [(r.step_key, r.iteration_attempt, r.status, r.is_final) for r in run.results] == [
        ("step:0", 1, "passed", False),
        ("step:1", 1, "failed", False),
        ("step:2", 1, "skipped", False),
        ("step:0", 2, "passed", True),
        ("step:1", 2, "passed", True),
        ("step:2", 2, "passed", True),
    ]
    assert engine.target.paths() == ["/echo", "/flaky", "/echo", "/flaky", "/echo"]
    assert run.outcome.status == "passed"
    assert run.outcome.iterations.as_dict() == {"passed": 1, "failed": 0, "error": 0, "skipped": 0, "flaky": 1}
    assert run.outcome.requests.as_dict() == {"passed": 3, "failed": 0, "error": 0, "skipped": 0, "flaky": 0}


async def test_scenario_retry_starts_each_attempt_from_a_clean_scope(engine: Engine):
    run = await engine.run(
        step("read", query={"seen": "{{seen}}"}),
        step(
            "write then fail",
            url="/flaky?key=g&fail=1",
            assertions=[STATUS_200],
            post_processors=[{"type": "set", "name": "seen", "value": "attempt one"}],
        ),
        run_variables={"seen": "nothing"},
        options=RunOptions(retry={"max_attempts": 2, "backoff_ms": 0}),
    )
    assert [a.query.get("seen") for a in engine.target.arrivals if a.path == "/echo"] == ["nothing", "nothing"]
    assert run.outcome.status == "passed"


async def test_scenario_retry_gives_up_after_its_attempts(engine: Engine):
    run = await engine.run(
        step("always fails", url="/flaky?key=h&fail=99", assertions=[STATUS_200]),
        rows=rows({}, {}),
        options=RunOptions(retry={"max_attempts": 2, "backoff_ms": 0}, concurrency=2),
    )
    assert len(run.results) == 4 and len(run.final) == 2
    assert run.outcome.status == "failed"
    assert run.outcome.not_passed_iterations == [0, 1]
    assert run.outcome.iterations.failed == 2 and run.outcome.requests.failed == 2


# ---- polling -------------------------------------------------------------------------------------
async def test_polling_repeats_until_the_expression_holds_and_keeps_the_last_response(engine: Engine, clock: FakeClock):
    run = await engine.run(
        step(
            url="/orders/ord-9?paid_after=3",
            poll={"until": "body['data']['status'] == 'PAID'", "interval_ms": 10, "max_attempts": 10},
            assertions=[{"source": "body", "expression": "$.data.polls", "op": "eq", "expected": 3}],
        ),
        clock=clock,
    )
    result = run.one()
    assert clock.sleeps_ms == [10.0, 10.0]  # an interval between polls, none after the one that holds
    assert result.duration_ms == 20.0  # the polls are one attempt: its duration spans them
    assert result.status == "passed"
    assert run.body()["data"] == {"order_id": "ord-9", "status": "PAID", "polls": 3}
    assert engine.target.count("/orders/ord-9") == 3
    assert len(run.results) == 1  # polls are one attempt, not three results


async def test_polling_that_never_holds_fails_with_the_last_response(engine: Engine, clock: FakeClock):
    run = await engine.run(
        step(
            url="/orders/ord-10?paid_after=99",
            poll={"until": "body['data']['status'] == 'PAID'", "interval_ms": 5, "max_attempts": 4},
        ),
        clock=clock,
    )
    result = run.one()
    assert clock.sleeps_ms == [5.0, 5.0, 5.0]  # no interval after the last attempt
    assert result.status == "failed"
    assert run.body()["data"]["polls"] == 4
    assert result.assertions == [
        {
            "source": "poll",
            "expression": "body['data']['status'] == 'PAID'",
            "op": None,
            "expected": True,
            "actual": False,
            "passed": False,
            "message": "poll.until never held (4 attempts)",
        }
    ]


async def test_polling_stops_at_its_timeout(engine: Engine, clock: FakeClock):
    run = await engine.run(
        step(
            url="/orders/ord-11?paid_after=9999",
            poll={
                "until": "body['data']['status'] == 'PAID'",
                "interval_ms": 20,
                "max_attempts": 10_000,
                "timeout_ms": 120,
            },
        ),
        clock=clock,
    )
    # Polls at 0, 20, ... 120 ms: the one at 120 ms reaches the timeout, so no interval follows it.
    assert clock.sleeps_ms == [20.0] * 6
    result = run.one()
    assert result.status == "failed" and result.duration_ms == 120.0
    assert result.assertions[0]["message"] == "poll.until never held (7 attempts)"
    assert engine.target.count() == 7


async def test_a_poll_expression_that_cannot_be_evaluated_is_an_error(engine: Engine):
    run = await engine.run(
        step(
            url="/html",
            poll={"until": "body['status'] == 'PAID'", "interval_ms": 5, "max_attempts": 3},
            assertions=[{"source": "status_code", "op": "eq", "expected": 500}],
        )
    )
    result = run.one()
    assert result.status == "error"  # not downgraded to "failed" by the failing assertion
    assert result.error == "step: poll.until could not be evaluated: TypeError: 'NoneType' object is not subscriptable"
    assert engine.target.count() == 1


# ---- timeouts ------------------------------------------------------------------------------------
async def test_a_step_timeout_is_an_error_and_the_flow_goes_on(engine: Engine):
    started = time.monotonic()
    run = await engine.run(
        step("slow", url="/slow?ms=1000", timeout_ms=100, retry={"max_attempts": 1}),
        step("after"),
        options=RunOptions(stop_on_failure=False),
    )
    assert time.monotonic() - started < 0.8
    slow = run.one("step:0")
    assert slow.status == "error" and slow.error == "timed out after 100 ms"
    assert slow.response is None and slow.request is not None
    assert 90 <= slow.duration_ms < 700
    assert run.one("step:1").status == "passed"


async def test_a_run_timeout_ends_the_run_with_an_error(engine: Engine):
    started = time.monotonic()
    run = await engine.run(
        step("slow", url="/slow?ms=2000"),
        step("never reached"),
        options=RunOptions(timeout_ms=150),
    )
    assert time.monotonic() - started < 1.0
    assert run.outcome.status == "error"
    assert run.outcome.error == "run timed out after 150 ms"
    slow, never = run.results  # the step never started is recorded too, so the counts add up
    assert slow.status == "error" and slow.is_final
    assert slow.error == "run timed out after 150 ms"
    assert (never.step_key, never.status, never.error) == (
        "step:1",
        "skipped",
        "not started: run timed out after 150 ms",
    )
    assert engine.target.paths() == ["/slow"]


async def test_a_run_timeout_reached_while_backing_off_ends_the_run_on_the_clock(engine: Engine, clock: FakeClock):
    run = await engine.run(
        step("flaky", url="/flaky?key=t&fail=99", retry=retry(max_attempts=5, backoff_ms=400), assertions=[STATUS_200]),
        step("never reached"),
        options=RunOptions(timeout_ms=1000),
        clock=clock,
    )
    # 400 ms, then 800 ms cut to the 600 ms left: the backoff ends at the run's deadline, not after it.
    assert clock.sleeps_ms == [400.0, 600.0]
    assert run.outcome.status == "error" and run.outcome.error == "run timed out after 1000 ms"
    assert run.outcome.finished_at - run.outcome.started_at == timedelta(seconds=1)
    assert [(r.step_key, r.attempt, r.status, r.is_final, r.error) for r in run.results] == [
        ("step:0", 1, "failed", False, None),
        ("step:0", 2, "failed", False, None),
        ("step:0", 3, "error", True, "run timed out after 1000 ms"),  # abandoned while waiting to retry
        ("step:1", 1, "skipped", True, "not started: run timed out after 1000 ms"),
    ]
    assert run.results[2].request is None and run.results[2].duration_ms == 600.0
    assert engine.target.count("/flaky") == 2
