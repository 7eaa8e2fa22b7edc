"""Whole flows: setup once, data-driven iterations of login -> order -> pay -> poll, teardown once."""

from __future__ import annotations

import asyncio

import pytest

from app.engine import compiled
from app.engine.specs import RequestSpec, RunOptions
from tests.engine.conftest import Engine, rows, step

LOGIN = step(
    "login",
    method="POST",
    url="/login",
    body={"mode": "json", "content": {"username": "{{user}}", "password": "{{password}}"}},
    extractors=[{"name": "token", "source": "body", "expression": "$.data.token"}],
    assertions=[
        {"source": "status_code", "op": "eq", "expected": 200},
        {"source": "body", "expression": "$.code", "op": "eq", "expected": 0},
    ],
)
CREATE_ORDER = step(
    "create order",
    method="POST",
    url="/orders",
    auth={"type": "bearer", "token": "{{token}}"},
    body={"mode": "json", "content": {"item": "{{item}}", "qty": "{{qty}}"}},
    extractors=[{"name": "order_id", "source": "body", "expression": "$.data.order_id"}],
    assertions=[
        {"source": "status_code", "op": "eq", "expected": 201},
        {"source": "body", "expression": "$.data.qty", "op": "eq", "expected": 2},
    ],
)
PAY = step(
    "pay",
    method="POST",
    url="/pay",
    body={"mode": "json", "content": {"order_id": "{{order_id}}"}},
    assertions=[{"source": "body", "expression": "$.data.status", "op": "eq", "expected": "PAYING"}],
)
WAIT_PAID = step(
    "wait until paid",
    url="/orders/{{order_id}}",
    query={"paid_after": 2},
    poll={"until": "body['data']['status'] == 'PAID'", "interval_ms": 5, "max_attempts": 5},
    assertions=[{"source": "expression", "expression": "body['data']['status'] == 'PAID' and status_code == 200"}],
)


async def test_the_shop_flow_runs_for_every_data_row(engine: Engine):
    run = await engine.run(
        CREATE_ORDER,
        PAY,
        WAIT_PAID,
        setup=[LOGIN],
        teardown=[step("logout", url="/echo?bye={{token}}")],
        environment={"variables": {"user": "alice"}, "secrets": {"password": "wonderland-pw"}},
        scenario_variables={"qty": 2},
        rows=rows({"item": "pen"}, {"item": "ink"}, {"item": "pad"}),
        options=RunOptions(concurrency=3),
    )
    assert run.outcome.status == "passed", [
        (r.step_key, r.error, r.assertions) for r in run.results if r.status != "passed"
    ]
    assert run.outcome.iterations.as_dict() == {"passed": 3, "failed": 0, "error": 0, "skipped": 0, "flaky": 0}
    assert run.outcome.requests.as_dict() == {"passed": 11, "failed": 0, "error": 0, "skipped": 0, "flaky": 0}
    assert run.outcome.not_passed_iterations == []
    target = engine.target
    assert (target.count("/login"), target.count("/orders"), target.count("/pay")) == (1, 3, 3)
    assert target.paths()[0] == "/login" and target.paths()[-1] == "/echo"
    assert target.arrivals[-1].query == {"bye": "tok-alice"}
    order_ids = {run.one("step:0", iteration=i).extracted["order_id"] for i in range(3)}
    assert len(order_ids) == 3  # each iteration paid its own order
    for order_id in order_ids:
        assert target.count(f"/orders/{order_id}") == 2
    assert [r.iteration for r in run.of("setup:0")] == [-1] and [r.iteration for r in run.of("teardown:0")] == [-1]
    assert {r.name for r in run.results} == {"login", "create order", "pay", "wait until paid", "logout"}


async def test_a_failing_setup_skips_the_iterations_but_teardown_still_runs(engine: Engine):
    run = await engine.run(
        CREATE_ORDER,
        setup=[LOGIN],
        teardown=[step("cleanup")],
        run_variables={"user": "alice", "password": "wrong"},
        rows=rows({"item": "pen"}, {"item": "ink"}),
    )
    assert run.outcome.status == "failed"
    assert engine.target.paths() == ["/login", "/echo"]
    assert run.one("setup:0").status == "failed"
    assert run.one("teardown:0").status == "passed"
    assert run.outcome.iterations.as_dict() == {"passed": 0, "failed": 0, "error": 0, "skipped": 0, "flaky": 0}


async def test_a_failing_teardown_fails_the_run(engine: Engine):
    run = await engine.run(
        step("fine"),
        teardown=[step("cleanup", assertions=[{"source": "status_code", "op": "eq", "expected": 204}]), step("more")],
    )
    assert run.outcome.status == "failed"
    assert run.outcome.iterations.passed == 1
    # teardown does every step even after one fails: cleaning up as much as it can
    assert [r.status for r in run.of("teardown:0") + run.of("teardown:1")] == ["failed", "passed"]


async def test_teardown_sees_what_setup_extracted_but_not_what_iterations_set(engine: Engine):
    run = await engine.run(
        step("iteration", post_processors=[{"type": "set", "name": "token", "value": "from iteration"}]),
        setup=[LOGIN],
        teardown=[step("logout", query={"token": "{{token}}"})],
        run_variables={"user": "bob", "password": "builder-pw"},
    )
    assert run.outcome.status == "passed"
    assert engine.target.arrivals[-1].query == {"token": "tok-bob"}


async def test_a_flow_with_no_steps_passes_with_one_empty_iteration(engine: Engine):
    run = await engine.run()
    assert run.outcome.status == "passed"
    assert run.outcome.iterations.passed == 1
    assert run.results == []


async def test_results_name_where_they_come_from(engine: Engine):
    first = step("aliased", alias="Check catalog", url="/catalog", step_id=11)
    run = await engine.run(first, rows=rows({}, {}))
    result = run.one(iteration=1)
    assert result.name == "Check catalog"
    assert (result.step_key, result.step_id, result.case_id, result.iteration) == ("step:0", 11, first.case.id, 1)
    assert result.attempt == 1 and result.iteration_attempt == 1 and result.is_final and not result.flaky
    assert result.started_at.tzinfo is not None and result.duration_ms > 0


class BrokenSink:
    def __init__(self) -> None:
        self.results: list[object] = []

    async def put(self, result: object) -> None:
        self.results.append(result)
        if len(self.results) == 2:
            raise OSError("disk full")


async def test_a_failing_sink_stops_the_run_with_its_own_error_and_leaves_nothing_running(engine: Engine):
    with pytest.raises(OSError, match="disk full"):
        await engine.run(
            step("slow", url="/slow?ms=50"),
            rows=rows(*({} for _ in range(10))),
            options=RunOptions(concurrency=3),
            sink=BrokenSink(),
        )
    sent = engine.target.count()
    await asyncio.sleep(0.15)
    assert engine.target.count() == sent <= 5


async def test_the_flow_is_compiled_once_per_run_not_per_request(engine: Engine, monkeypatch: pytest.MonkeyPatch):
    compilations: list[str] = []
    real_request, real_expression = compiled.CompiledRequest, compiled.compile_expression

    def count_request(spec: RequestSpec) -> compiled.CompiledRequest:
        compilations.append("request")
        return real_request(spec)

    def count_expression(source: str) -> compiled.CompiledExpression:
        compilations.append("expression")
        return real_expression(source)

    monkeypatch.setattr(compiled, "CompiledRequest", count_request)
    monkeypatch.setattr(compiled, "compile_expression", count_expression)
    run = await engine.run(
        step(
            "a",
            skip_if="vars['n'] < 0",
            query={"n": "{{n}}"},
            post_processors=[{"type": "set", "name": "x", "expression": "vars['n'] + 1"}],
        ),
        step("b", poll={"until": "status_code == 200", "interval_ms": 1, "max_attempts": 2}),
        rows=rows(*({"n": n} for n in range(20))),
        options=RunOptions(concurrency=4),
    )
    assert run.outcome.iterations.passed == 20 and engine.target.count() == 40
    assert sorted(compilations) == ["expression"] * 3 + ["request"] * 2
