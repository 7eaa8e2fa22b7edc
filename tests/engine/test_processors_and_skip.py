"""Processors before and after a step (set, wait, extract, assert_expression) and skip_if."""

from __future__ import annotations

from app.engine.specs import RunOptions
from tests.engine.clock import FakeClock
from tests.engine.conftest import Engine, step


async def test_set_processors_take_a_templated_value_or_an_expression(engine: Engine):
    run = await engine.run(
        step(
            "prepare",
            method="POST",
            variables={"qty": 2, "sku": "P-1"},
            pre_processors=[
                {"type": "set", "name": "label", "value": "{{sku}} x{{qty}}"},
                {"type": "set", "name": "same_qty", "value": "{{qty}}"},
                {"type": "set", "name": "payload", "value": {"sku": "{{sku}}", "qty": "{{qty}}"}},
                {"type": "set", "name": "fixed", "value": 7},
                {"type": "set", "name": "double", "expression": "vars['qty'] * 2"},
            ],
            body={
                "mode": "json",
                "content": {
                    "label": "{{label}}",
                    "same_qty": "{{same_qty}}",
                    "payload": "{{payload}}",
                    "fixed": "{{fixed}}",
                    "double": "{{double}}",
                },
            },
            post_processors=[{"type": "set", "name": "echoed_method", "expression": "body['method'].lower()"}],
        ),
        step("use", query={"m": "{{echoed_method}}"}),
    )
    assert run.body()["parsed"] == {
        "label": "P-1 x2",
        "same_qty": 2,
        "payload": {"sku": "P-1", "qty": 2},
        "fixed": 7,
        "double": 4,
    }
    assert engine.target.arrivals[1].query == {"m": "post"}
    assert run.one().dataset["values"]["echoed_method"] == "post"  # type: ignore[index]


async def test_a_wait_processor_delays_the_request(engine: Engine, clock: FakeClock):
    run = await engine.run(step("first"), step("second", pre_processors=[{"type": "wait", "ms": 80}]), clock=clock)
    assert clock.sleeps_ms == [80.0]  # on the run's clock, before the second request
    assert engine.target.paths() == ["/echo", "/echo"]
    assert run.one("step:1").duration_ms == 80.0  # the wait is part of the step


async def test_extract_and_assert_expression_processors_run_after_the_response(engine: Engine):
    run = await engine.run(
        step(
            url="/catalog",
            post_processors=[
                {"type": "extract", "name": "first_id", "source": "body", "expression": "$.data.items[0].id"},
                {"type": "assert_expression", "expression": "vars['first_id'] == 1"},
                {"type": "assert_expression", "expression": "body['data']['count'] > 10"},
                {"type": "extract", "name": "gone", "source": "header", "expression": "X-Nope"},
            ],
        )
    )
    result = run.one()
    assert result.status == "failed"
    assert result.extracted == {"first_id": 1}
    assert [(c["source"], c["passed"], c["message"]) for c in result.assertions] == [
        ("expression", True, "expression holds"),
        ("expression", False, "expression is false: body['data']['count'] > 10"),
        ("extractor", False, "extractor 'gone' found nothing in header at X-Nope"),
    ]


async def test_a_processor_expression_that_raises_is_an_error_result(engine: Engine):
    run = await engine.run(
        step(url="/html", post_processors=[{"type": "set", "name": "x", "expression": "body['code']"}])
    )
    result = run.one()
    assert result.status == "error"
    assert result.error == "step: post-processor failed: TypeError: 'NoneType' object is not subscriptable"
    assert result.response is not None and result.response["status"] == 200


async def test_skip_if_holding_skips_the_step_without_a_request(engine: Engine):
    run = await engine.run(
        step("skipped", skip_if="vars['env'] == 'prod'"),
        step("kept", skip_if="vars['env'] != 'prod'"),
        run_variables={"env": "prod"},
    )
    skipped, kept = run.one("step:0"), run.one("step:1")
    assert skipped.status == "skipped" and skipped.error == "skip_if held: vars['env'] == 'prod'"
    assert skipped.request is None and skipped.response is None
    assert kept.status == "passed"
    assert engine.target.count() == 1
    assert run.outcome.status == "passed"
    assert run.outcome.requests.as_dict() == {"passed": 1, "failed": 0, "error": 0, "skipped": 1, "flaky": 0}


async def test_skip_if_can_read_values_extracted_earlier(engine: Engine):
    run = await engine.run(
        step("look", url="/catalog", extractors=[{"name": "count", "source": "body", "expression": "$.data.count"}]),
        step("only when empty", skip_if="vars['count'] > 0"),
    )
    assert run.one("step:1").status == "skipped"
    assert engine.target.count() == 1


async def test_a_skip_if_that_cannot_be_evaluated_is_an_error(engine: Engine):
    run = await engine.run(step("broken", skip_if="vars['missing'] == 1"), options=RunOptions())
    result = run.one()
    assert result.status == "error"
    assert result.error == "broken: skip_if could not be evaluated: KeyError: 'missing'"
    assert engine.target.count() == 0


async def test_a_disabled_step_is_left_out(engine: Engine):
    run = await engine.run(step("off", enabled=False), step("on"))
    assert [r.step_key for r in run.results] == ["step:1"]
    assert engine.target.count() == 1


async def test_skip_if_can_test_for_a_value_that_was_never_set(engine: Engine):
    run = await engine.run(step("only with a coupon", skip_if="vars.get('coupon') is None"), step("always"))
    assert [r.status for r in run.results] == ["skipped", "passed"]
