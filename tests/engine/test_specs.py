"""The saved shapes of extractors, assertions, processors, retry, poll and settings (no database)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from app.engine.expressions import ExpressionError, check_expression, compile_expression
from app.engine.specs import (
    Assertion,
    AuthSpec,
    BodySpec,
    Extractor,
    PollSpec,
    Processor,
    RequestSpec,
    RetrySpec,
    ScenarioSettings,
    check_url,
)


def error_text(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return " ".join(e["msg"] for e in exc.value.errors())


@pytest.mark.parametrize("url", ["/login", "https://api.example.com/x?a=1", "{{base_url}}/orders", "{{ $host }}/x"])
def test_urls_that_are_absolute_templated_or_rooted_are_kept(url):
    assert check_url(url) == url


@pytest.mark.parametrize("url", ["login", "ftp://x/y", "//host/x", "http://", "/a b", "", "javascript:alert(1)"])
def test_other_urls_are_refused(url):
    with pytest.raises(ValueError):
        check_url(url)


@pytest.mark.parametrize(
    ("source", "expression"),
    [
        ("body", "$.data.token"),
        ("body", "$..items[?@.price > 10].id"),
        ("header", "X-Request-Id"),
        ("cookie", "session"),
        ("regex", r"id=(\d+)"),
        ("status_code", None),
        ("text", None),
    ],
)
def test_every_extractor_source_is_accepted(source, expression):
    assert Extractor(name="v", source=source, expression=expression).source == source


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"source": "body", "expression": "$.["}, "does not parse"),
        ({"source": "regex", "expression": "(unclosed"}, "does not compile"),
        ({"source": "body"}, "needs an expression"),
        ({"source": "xml", "expression": "x"}, "Input should be"),
    ],
)
def test_broken_extractors_say_why(fields, message):
    with pytest.raises(ValidationError) as exc:
        Extractor(name="v", **fields)
    assert message in error_text(exc)


def test_extractor_names_must_be_variable_names():
    with pytest.raises(ValidationError, match="variable name"):
        Extractor(name="has space", source="text")


@pytest.mark.parametrize(
    "fields",
    [
        {"source": "status_code", "op": "eq", "expected": 200},
        {"source": "status_code", "op": "between", "expected": [200, 299]},
        {"source": "body", "expression": "$.code", "expected": 0},
        {"source": "body", "expression": "$.items", "op": "length", "expected": 3},
        {"source": "body", "expression": "$.id", "op": "exists"},
        {"source": "body", "expression": "$.id", "op": "type", "expected": "integer"},
        {"source": "header", "expression": "Content-Type", "op": "contains", "expected": "json"},
        {"source": "text", "op": "regex", "expected": "^ok"},
        {"source": "response_time_ms", "op": "lt", "expected": 500},
        {"source": "json_schema", "expected": {"type": "object", "required": ["id"]}},
        {"source": "expression", "expression": "body['data']['status'] == 'PAID' and elapsed_ms < 500"},
        {"source": "body", "expression": "$.status", "op": "in", "expected": ["PAID", "SHIPPED"]},
    ],
)
def test_valid_assertions_are_accepted(fields):
    assert Assertion(**fields).source == fields["source"]


def test_an_assertion_without_op_means_eq():
    assert Assertion(source="status_code", expected=201).op == "eq"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"source": "status_code", "op": "equals", "expected": 200}, "Input should be"),
        ({"source": "status_code", "op": "between", "expected": [300, 200]}, "low <= high"),
        ({"source": "status_code", "op": "between", "expected": 200}, "[low, high]"),
        ({"source": "status_code", "op": "eq", "expected": "200"}, "must be a number"),
        ({"source": "body", "op": "eq", "expected": 1}, "needs a JSONPath"),
        ({"source": "body", "expression": "$.x", "op": "type", "expected": "str"}, "op 'type' needs"),
        ({"source": "text", "op": "regex", "expected": "(x"}, "does not compile"),
        ({"source": "body", "expression": "$.x", "op": "eq"}, "needs an expected value"),
        ({"source": "json_schema", "expected": {"type": "no-such-type"}}, "not a valid JSON Schema"),
        ({"source": "expression", "expression": "__import__('os')"}, "unknown name"),
        ({"source": "expression", "expression": "body.__class__"}, "not allowed"),
        ({"source": "expression", "expression": "status_code =="}, "does not parse"),
        ({"source": "body", "expression": "$.x", "op": "length", "expected": -1}, "non-negative"),
    ],
)
def test_broken_assertions_say_why(fields, message):
    with pytest.raises(ValidationError) as exc:
        Assertion(**fields)
    assert message in error_text(exc)


processor = TypeAdapter(Processor)


def test_processors_of_each_type_are_accepted():
    for item in (
        {"type": "set", "name": "x", "value": "{{y}}"},
        {"type": "set", "name": "x", "expression": "vars['a']"},
        {"type": "wait", "ms": 100},
        {"type": "extract", "name": "id", "source": "body", "expression": "$.id"},
        {"type": "assert_expression", "expression": "status_code == 200"},
    ):
        assert processor.validate_python(item).type == item["type"]


@pytest.mark.parametrize(
    "item",
    [
        {"type": "set", "name": "x"},
        {"type": "set", "name": "x", "value": 1, "expression": "1"},
        {"type": "wait", "ms": -1},
        {"type": "sleep", "ms": 1},
        {"type": "assert_expression", "expression": "x +"},
    ],
)
def test_broken_processors_are_refused(item):
    with pytest.raises(ValidationError):
        processor.validate_python(item)


def test_retry_poll_and_settings_have_the_documented_defaults():
    assert RetrySpec().model_dump() == {
        "max_attempts": 1,
        "backoff_ms": 200,
        "backoff_factor": 2.0,
        "max_backoff_ms": 5000,
        "on_status": [502, 503, 504],
        "on_network_error": True,
        "on_assertion_failure": False,
    }
    assert PollSpec(until="body['status'] == 'PAID'").interval_ms == 500
    settings = ScenarioSettings().model_dump()
    assert settings["concurrency"] == 1 and settings["stop_on_failure"] is True
    assert settings["rate_limit"] == {"per_second": None, "burst": None}


@pytest.mark.parametrize(
    "fields",
    [
        {"concurrency": 0},
        {"timeout_ms": 0},
        {"rate_limit": {"per_second": -1}},
        {"parallel": True},
        {"retry": {"max_attempts": 0}},
    ],
)
def test_bad_scenario_settings_are_refused(fields):
    with pytest.raises(ValidationError):
        ScenarioSettings(**fields)


@pytest.mark.parametrize(
    ("mode", "content"), [("raw", {"a": 1}), ("urlencoded", "a=1"), ("form", {"f": {"nested": 1}}), ("none", "x")]
)
def test_body_content_must_fit_its_mode(mode, content):
    with pytest.raises(ValidationError):
        BodySpec(mode=mode, content=content)


def test_auth_helpers_are_discriminated_by_type():
    auth = TypeAdapter(AuthSpec)
    assert auth.validate_python({"type": "bearer", "token": "{{token}}"}).type == "bearer"
    api_key = auth.validate_python({"type": "api_key", "key": "X-Key", "value": "v", "in": "query"})
    assert api_key.model_dump(by_alias=True)["in"] == "query"
    with pytest.raises(ValidationError):
        auth.validate_python({"type": "oauth1"})


def test_expressions_are_parsed_once_and_evaluated_safely():
    expression = compile_expression("body['data']['status'] == 'PAID' and len(vars['ids']) > 1")
    assert expression.evaluate({"body": {"data": {"status": "PAID"}}, "vars": {"ids": [1, 2]}}) is True
    assert expression.evaluate({"body": {"data": {"status": "NEW"}}, "vars": {"ids": [1, 2]}}) is False
    for bad in ("lambda: 1", "x" * 3000, "", "open('/etc/passwd')"):
        with pytest.raises(ExpressionError):
            check_expression(bad)


@pytest.mark.parametrize(
    "fields",
    [
        {"source": "status_code", "op": "eq", "expected": "{{expected_status}}"},
        {"source": "response_time_ms", "op": "lt", "expected": "{{ budget_ms }}"},
        {"source": "status_code", "op": "between", "expected": [200, "{{max_status}}"]},
        {"source": "body", "expression": "$.items", "op": "length", "expected": "{{count}}"},
        {"source": "body", "expression": "$.id", "op": "type", "expected": "{{id_type}}"},
    ],
)
def test_an_expected_value_may_be_a_template_filled_at_run_time(fields):
    assert Assertion(**fields).expected == fields["expected"]


def test_a_template_inside_a_longer_expected_string_is_still_checked_for_its_op():
    with pytest.raises(ValidationError, match="must be a number"):
        Assertion(source="status_code", op="eq", expected="2{{xx}}")


def test_a_saved_request_validates_again_as_it_was_saved():
    """A run loads what the API saved (every field dumped, defaults and nulls included) into the same models."""
    saved = RequestSpec.model_validate(
        {
            "method": "post",
            "url": "{{base_url}}/orders",
            "headers": {"X-Trace": "{{trace}}"},
            "query": {"page": 1, "tags": ["a", "b"]},
            "body": {"mode": "json", "content": {"qty": "{{qty}}"}},
            "auth": {"type": "api_key", "key": "X-Key", "value": "{{key}}", "in": "query"},
            "extractors": [{"name": "id", "source": "body", "expression": "$.data.id"}],
            "assertions": [
                {"source": "status_code", "op": "in", "expected": [200, 201]},
                {"source": "expression", "expression": "body['ok']"},
                {"source": "json_schema", "expected": {"type": "object"}},
            ],
            "pre_processors": [{"type": "set", "name": "a", "value": None}, {"type": "wait", "ms": 5}],
            "post_processors": [
                {"type": "set", "name": "n", "expression": "vars['a']"},
                {"type": "extract", "name": "t", "source": "header", "expression": "X-T"},
                {"type": "assert_expression", "expression": "status_code < 500"},
            ],
            "poll": {"until": "body['done']"},
            "retry": {"max_attempts": 2},
        }
    )
    stored = saved.model_dump(mode="json", by_alias=True)
    assert RequestSpec.model_validate(stored) == saved
    assert stored["auth"]["in"] == "query" and stored["retry"]["backoff_ms"] == 200  # defaults live in the model
