"""Extractors (every source, and finding nothing) and assertions (every source and op, with readable results)."""

from __future__ import annotations

from typing import Any

import pytest

from app.engine.specs import RunOptions
from tests.engine.conftest import Engine, rows, step

ASSERTION_KEYS = {"source", "expression", "op", "expected", "actual", "passed", "message"}
HTML = "<html><body><h1>Welcome</h1><p>order id=4711</p></body></html>"


# ---- extractors ----------------------------------------------------------------------------------
async def test_every_extractor_source_reads_its_value(engine: Engine):
    run = await engine.run(
        step(
            url="/catalog",
            extractors=[
                {"name": "second_item", "source": "body", "expression": "$.data.items[1].name"},
                {"name": "items", "source": "body", "expression": "$.data.items[*].id"},
                {"name": "whole", "source": "body", "expression": "$.data.tags"},
                {"name": "request_id", "source": "header", "expression": "x-request-id"},
                {"name": "theme", "source": "cookie", "expression": "theme"},
                {"name": "status", "source": "status_code"},
            ],
        ),
        step(
            url="/html",
            extractors=[
                {"name": "order_id", "source": "regex", "expression": r"id=(\d+)"},
                {"name": "heading", "source": "regex", "expression": r"<h1>\w+</h1>"},
                {"name": "page", "source": "text"},
            ],
        ),
        step("use", query={"ids": "{{second_item}}-{{request_id}}-{{theme}}-{{status}}-{{order_id}}"}),
    )
    assert run.outcome.status == "passed"
    assert run.one("step:0").extracted == {
        "second_item": "ink",
        "items": 1,  # the first match of a path that selects many
        "whole": ["new", "sale"],
        "request_id": "req-42",
        "theme": "dark",
        "status": 200,
    }
    assert run.one("step:1").extracted == {"order_id": "4711", "heading": "<h1>Welcome</h1>", "page": HTML}
    assert engine.target.arrivals[-1].query == {"ids": "ink-req-42-dark-200-4711"}


@pytest.mark.parametrize(
    ("source", "expression", "url"),
    [
        ("body", "$.data.missing", "/catalog"),
        ("body", "$.data", "/html"),  # not JSON at all
        ("header", "X-Missing", "/catalog"),
        ("cookie", "missing", "/catalog"),
        ("regex", r"total=(\d+)", "/html"),
    ],
)
async def test_an_extractor_that_finds_nothing_fails_the_step_and_sets_nothing(
    engine: Engine, source: str, expression: str, url: str
):
    run = await engine.run(
        step("find", url=url, extractors=[{"name": "found", "source": source, "expression": expression}]),
        step("use", query={"found": "{{found}}"}),
        options=RunOptions(stop_on_failure=False),
    )
    found = run.one("step:0")
    assert found.status == "failed"
    assert found.extracted == {}
    assert found.assertions == [
        {
            "source": "extractor",
            "expression": expression,
            "op": None,
            "expected": "found",
            "actual": None,
            "passed": False,
            "message": f"extractor 'found' found nothing in {source} at {expression}",
        }
    ]
    use = run.one("step:1")
    assert use.status == "error" and use.error == "use: unknown variable 'found'"
    assert engine.target.count() == 1


# ---- assertions: every source ---------------------------------------------------------------------
async def test_every_assertion_source_passes_and_fails_with_a_readable_result(engine: Engine):
    schema = {
        "type": "object",
        "required": ["code", "data"],
        "properties": {"data": {"type": "object", "properties": {"count": {"type": "integer"}}}},
    }
    strict = {"type": "object", "properties": {"data": {"properties": {"count": {"type": "string"}}}}}
    run = await engine.run(
        step(
            url="/catalog",
            assertions=[
                {"source": "status_code", "op": "eq", "expected": 200},
                {"source": "status_code", "op": "eq", "expected": 201},
                {"source": "body", "expression": "$.data.count", "op": "eq", "expected": 3},
                {"source": "body", "expression": "$.data.count", "op": "eq", "expected": 4},
                {"source": "header", "expression": "X-Request-Id", "op": "eq", "expected": "req-42"},
                {"source": "header", "expression": "x-request-id", "op": "eq", "expected": "req-1"},
                {"source": "text", "op": "contains", "expected": "Spring catalog"},
                {"source": "text", "op": "contains", "expected": "Autumn"},
                {"source": "response_time_ms", "op": "lt", "expected": 5000},
                {"source": "response_time_ms", "op": "lt", "expected": 0},
                {"source": "json_schema", "expected": schema},
                {"source": "json_schema", "expected": strict},
                {"source": "json_schema", "expression": "$.data.items[0]", "expected": {"required": ["id"]}},
                {"source": "expression", "expression": "body['data']['count'] == 3 and status_code == 200"},
                {"source": "expression", "expression": "len(body['data']['items']) > 5"},
                {"source": "expression", "expression": "headers['x-request-id'] == 'req-42' and elapsed_ms < 5000"},
            ],
        )
    )
    result = run.one()
    assert result.status == "failed"
    checks = result.assertions
    assert all(set(check) == ASSERTION_KEYS for check in checks)
    assert [check["passed"] for check in checks] == [True, False] * 6 + [True, True, False, True]
    by_message = [check["message"] for check in checks]
    assert by_message[0] == "status_code eq 200"
    assert by_message[1] == "status_code: expected eq 201, got 200"
    assert checks[1]["expected"] == 201 and checks[1]["actual"] == 200
    assert by_message[3] == "body $.data.count: expected eq 4, got 3"
    assert by_message[5] == "header x-request-id: expected eq 'req-1', got 'req-42'"
    assert by_message[7].startswith("text: expected contains 'Autumn', got '{")
    assert isinstance(checks[8]["actual"], float) and checks[8]["actual"] >= 0
    assert by_message[10] == "the body matches the schema"
    assert by_message[11] == "schema violation at data/count: 3 is not of type 'string'"
    assert checks[11]["actual"] == "data/count"
    assert by_message[13] == "expression holds"
    assert by_message[14] == "expression is false: len(body['data']['items']) > 5"
    assert checks[14]["actual"] is False


# ---- assertions: every op ------------------------------------------------------------------------
OP_CASES: list[tuple[str, str, Any, bool, str]] = [
    # (op, JSONPath into /catalog, expected, passes, message)
    ("eq", "$.data.name", "Spring catalog", True, "body $.data.name eq 'Spring catalog'"),
    ("eq", "$.data.active", 1, False, "body $.data.active: expected eq 1, got True"),  # JSON true is not 1
    ("ne", "$.data.count", 4, True, "body $.data.count ne 4"),
    ("ne", "$.data.count", 3, False, "body $.data.count: expected ne 3, got 3"),
    ("gt", "$.data.count", 2, True, "body $.data.count gt 2"),
    ("gt", "$.data.count", 3, False, "body $.data.count: expected gt 3, got 3"),
    ("ge", "$.data.count", 3, True, "body $.data.count ge 3"),
    ("ge", "$.data.price", 10, False, "body $.data.price: expected ge 10, got 9.5"),
    ("lt", "$.data.price", 10, True, "body $.data.price lt 10"),
    ("lt", "$.data.count", 3, False, "body $.data.count: expected lt 3, got 3"),
    ("le", "$.data.count", 3, True, "body $.data.count le 3"),
    ("le", "$.data.count", 2, False, "body $.data.count: expected le 2, got 3"),
    ("between", "$.data.count", [3, 5], True, "body $.data.count between [3, 5]"),
    ("between", "$.data.price", [10, 20], False, "body $.data.price: expected between [10, 20], got 9.5"),
    ("in", "$.data.count", [1, 3], True, "body $.data.count in [1, 3]"),
    ("in", "$.data.active", [1, 0], False, "body $.data.active: expected in [1, 0], got True"),
    ("not_in", "$.data.count", [1, 2], True, "body $.data.count not in [1, 2]"),
    (
        "not_in",
        "$.data.name",
        ["Spring catalog"],
        False,
        "body $.data.name: expected not in ['Spring catalog'], got 'Spring catalog'",
    ),
    ("contains", "$.data.tags", "sale", True, "body $.data.tags contains 'sale'"),
    ("contains", "$.data.name", "Autumn", False, "body $.data.name: expected contains 'Autumn', got 'Spring catalog'"),
    ("not_contains", "$.data.name", "Autumn", True, "body $.data.name not contains 'Autumn'"),
    ("not_contains", "$.data.tags", "new", False, "body $.data.tags: expected not contains 'new', got ['new', 'sale']"),
    ("regex", "$.data.name", r"^Spring \w+$", True, r"body $.data.name regex '^Spring \w+$'"),
    ("regex", "$.data.name", r"^\d+$", False, r"body $.data.name: expected regex '^\d+$', got 'Spring catalog'"),
    ("exists", "$.data.note", None, True, "body $.data.note exists"),  # present, even though null
    ("exists", "$.data.missing", None, False, "body $.data.missing does not exist"),
    ("not_exists", "$.data.missing", None, True, "body $.data.missing does not exist"),
    ("not_exists", "$.data.count", None, False, "body $.data.count exists but should not"),
    ("type", "$.data.count", "integer", True, "body $.data.count type 'integer'"),
    ("type", "$.data.count", "number", True, "body $.data.count type 'number'"),
    ("type", "$.data.note", "null", True, "body $.data.note type 'null'"),
    ("type", "$.data.items", "array", True, "body $.data.items type 'array'"),
    ("type", "$.data", "object", True, "body $.data type 'object'"),
    ("type", "$.data.active", "boolean", True, "body $.data.active type 'boolean'"),
    ("type", "$.data.price", "integer", False, "body $.data.price: expected type 'integer', got 'number'"),
    ("type", "$.data.name", "number", False, "body $.data.name: expected type 'number', got 'string'"),
    ("length", "$.data.items", 3, True, "body $.data.items length 3"),
    ("length", "$.data.name", 14, True, "body $.data.name length 14"),
    ("length", "$.data.tags", 3, False, "body $.data.tags: expected length 3, got 2"),
]


@pytest.mark.parametrize(("op", "path", "expected", "passes", "message"), OP_CASES)
async def test_every_op_records_expected_actual_and_a_message(
    engine: Engine, op: str, path: str, expected: Any, passes: bool, message: str
):
    assertion: dict[str, Any] = {"source": "body", "expression": path, "op": op}
    if op not in ("exists", "not_exists"):
        assertion["expected"] = expected
    run = await engine.run(step(url="/catalog", assertions=[assertion]))
    result = run.one()
    [check] = result.assertions
    assert check["passed"] is passes
    assert check["message"] == message
    assert check["op"] == op and check["expected"] == expected and check["expression"] == path
    assert result.status == ("passed" if passes else "failed")


async def test_a_missing_value_fails_a_comparison_without_crashing(engine: Engine):
    run = await engine.run(
        step(url="/catalog", assertions=[{"source": "body", "expression": "$.data.nope", "op": "gt", "expected": 1}])
    )
    [check] = run.one().assertions
    assert check == {
        "source": "body",
        "expression": "$.data.nope",
        "op": "gt",
        "expected": 1,
        "actual": None,
        "passed": False,
        "message": "body $.data.nope: nothing there to compare",
    }


async def test_a_comparison_of_incompatible_types_is_a_failed_check_not_an_error(engine: Engine):
    run = await engine.run(
        step(url="/catalog", assertions=[{"source": "body", "expression": "$.data.name", "op": "gt", "expected": 3}])
    )
    result = run.one()
    assert result.status == "failed"
    assert result.assertions[0]["message"].startswith("could not evaluate: TypeError")


async def test_body_assertions_on_a_non_json_body_fail_cleanly(engine: Engine):
    run = await engine.run(
        step(
            url="/html",
            assertions=[
                {"source": "status_code", "op": "eq", "expected": 200},
                {"source": "header", "expression": "Content-Type", "op": "contains", "expected": "text/html"},
                {"source": "body", "expression": "$.code", "op": "eq", "expected": 0},
                {"source": "body", "expression": "$.code", "op": "not_exists"},
                {"source": "json_schema", "expected": {"type": "object"}},
                {"source": "expression", "expression": "body['code'] == 0"},
                {"source": "expression", "expression": "body is None and 'Welcome' in text"},
                {"source": "text", "op": "regex", "expected": "id=\\d{4}"},
            ],
        )
    )
    result = run.one()
    assert result.status == "failed" and result.error is None
    checks = result.assertions
    assert [c["passed"] for c in checks] == [True, True, False, True, False, False, True, True]
    assert checks[2]["message"] == "body $.code: nothing there to compare"
    assert checks[4]["message"] == "the body is not JSON, so it cannot match the schema"
    assert checks[5]["message"].startswith("could not evaluate: TypeError")
    assert result.response is not None and result.response["body"] == HTML


async def test_expression_assertions_can_read_variables(engine: Engine):
    run = await engine.run(
        step(
            url="/catalog",
            variables={"want": 3},
            assertions=[{"source": "expression", "expression": "body['data']['count'] == vars['want']"}],
        )
    )
    assert run.one().status == "passed"


async def test_expected_values_can_come_from_the_data_row(engine: Engine):
    run = await engine.run(
        step(
            url="/echo?status={{status}}&sku={{sku}}",
            assertions=[
                {"source": "status_code", "op": "eq", "expected": "{{status}}"},
                {"source": "body", "expression": "$.query.sku", "op": "eq", "expected": "{{sku}}"},
                {"source": "body", "expression": "$.query.sku", "op": "regex", "expected": "^{{prefix}}"},
                {"source": "response_time_ms", "op": "between", "expected": [0, "{{slowest}}"]},
                {"source": "body", "expression": "$.method", "op": "in", "expected": ["{{method}}", "HEAD"]},
            ],
        ),
        run_variables={"prefix": "P-", "slowest": 5000, "method": "GET"},
        rows=rows({"status": 200, "sku": "P-1"}, {"status": 404, "sku": "P-2"}, {"status": 201, "sku": "X-3"}),
        options=RunOptions(concurrency=1),
    )
    first, second, third = (run.one(iteration=i) for i in range(3))
    assert first.status == "passed" and second.status == "passed"
    assert first.assertions[0]["expected"] == 200 and second.assertions[0]["expected"] == 404
    assert first.assertions[0]["message"] == "status_code eq 200"
    assert first.assertions[3]["expected"] == [0, 5000]
    assert third.status == "failed"
    assert third.assertions[2]["message"] == "body $.query.sku: expected regex '^P-', got 'X-3'"


async def test_an_expected_value_naming_an_unknown_variable_fails_the_check_and_says_so(engine: Engine):
    run = await engine.run(step(assertions=[{"source": "status_code", "op": "eq", "expected": "{{expected_status}}"}]))
    result = run.one()
    assert result.status == "failed"
    assert result.assertions[0]["message"] == "could not evaluate: expected uses unknown variable 'expected_status'"
