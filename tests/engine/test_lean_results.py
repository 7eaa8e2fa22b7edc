"""The hot path (issue 8, lean hot path): checks and request headers are built once, with the same results.

A passing check's message is written when the run compiles, not per check; a check result that is already what a
record keeps (nothing to mask, plain short values) becomes the record itself instead of being copied; and
whatever takes the short cut, the record is the one the full path (mask, bound, copy) makes.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.checks import CompiledAssertion
from app.engine.masking import MASK, Masker
from app.engine.request import CompiledRequest
from app.engine.specs import Assertion, RequestSpec
from app.engine.transport import AiohttpTransport, Response
from app.engine.values import record_check, record_mapping, record_text, record_value
from tests.engine.conftest import Engine, step

LIMIT = 16
BASE = "http://127.0.0.1:9"
PLAIN = Masker([])


def response(body: bytes) -> Response:
    return Response(status=200, headers=[("Content-Type", "application/json")], body=body, elapsed_ms=1.0)


def request(headers: dict[str, str] | None = None, **fields: Any) -> RequestSpec:
    """A request validated as saved; the headers as given (the API refuses templated header names, the engine
    renders them all the same)."""
    spec = RequestSpec.model_validate(fields)
    return spec.model_copy(update={"headers": headers}) if headers else spec


def full_record_check(check: dict[str, Any], mask: Masker) -> dict[str, Any]:
    """The record as the full path makes it (every value bounded and masked, into a new dict)."""
    return {
        key: record_value(value, limit=LIMIT, mask=mask)
        if key in ("expected", "actual") or not isinstance(value, str)
        else record_text(value, limit=LIMIT, mask=mask)
        for key, value in check.items()
    }


def test_a_passing_checks_message_is_written_once_per_run():
    check = CompiledAssertion(
        Assertion.model_validate({"source": "body", "expression": "$.code", "op": "eq", "expected": 0})
    )
    first, second = check.evaluate(response(b'{"code": 0}'), {}), check.evaluate(response(b'{"code": 0}'), {})
    assert first["message"] == "body $.code eq 0"
    assert first["message"] is second["message"]  # not formatted again for each check
    failed = check.evaluate(response(b'{"code": 7}'), {})
    assert failed["message"] == "body $.code: expected eq 0, got 7" and failed["passed"] is False


def test_a_templated_expected_is_said_with_its_value():
    check = CompiledAssertion(Assertion.model_validate({"source": "status_code", "op": "eq", "expected": "{{want}}"}))
    passed = check.evaluate(response(b"{}"), {"want": 200})
    assert (passed["expected"], passed["passed"], passed["message"]) == (200, True, "status_code eq 200")
    failed = check.evaluate(response(b"{}"), {"want": 201})
    assert failed["message"] == "status_code: expected eq 201, got 200"


def test_exists_and_not_exists_say_the_same_as_before():
    exists = CompiledAssertion(Assertion.model_validate({"source": "body", "expression": "$.a", "op": "exists"}))
    missing = CompiledAssertion(Assertion.model_validate({"source": "body", "expression": "$.a", "op": "not_exists"}))
    found, absent = response(b'{"a": null}'), response(b"{}")
    assert exists.evaluate(found, {})["message"] == "body $.a exists"
    assert exists.evaluate(absent, {})["message"] == "body $.a does not exist"
    assert missing.evaluate(absent, {})["message"] == "body $.a does not exist"
    assert missing.evaluate(found, {})["message"] == "body $.a exists but should not"


def test_a_plain_result_is_its_own_record_and_others_are_copied():
    plain = {"source": "status_code", "expression": None, "op": "eq", "expected": 200, "actual": 200}
    assert record_check(plain, limit=LIMIT, mask=PLAIN) is plain  # built once, not copied
    long_actual = {**plain, "actual": "x" * (LIMIT + 1)}
    recorded = record_check(long_actual, limit=LIMIT, mask=PLAIN)
    assert recorded is not long_actual and recorded["actual"]["truncated"] is True
    assert long_actual["actual"] == "x" * (LIMIT + 1)  # the engine's own value is left whole
    secret = "Zq7-Hidden-Secret"
    masked = record_check({**plain, "actual": secret}, limit=LIMIT + 10, mask=Masker([secret]))
    assert masked["actual"] == MASK


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),  # NaN and the infinities become text
    st.text(max_size=LIMIT + 4),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
KEYS = st.sampled_from(["source", "expression", "op", "expected", "actual", "passed", "message"])


@settings(max_examples=400, deadline=None)
@given(check=st.dictionaries(KEYS, VALUES, max_size=7), secret=st.sampled_from([None, "hunter-22", "abc"]))
def test_records_of_checks_and_variables_are_what_the_full_path_makes(check: dict[str, Any], secret: str | None):
    mask = Masker([secret] if secret else [])
    assert record_check(dict(check), limit=LIMIT, mask=mask) == full_record_check(check, mask)
    expected = {name: record_value(value, limit=LIMIT, mask=mask) for name, value in check.items()}
    assert record_mapping(check, limit=LIMIT, mask=mask) == expected


async def test_a_run_records_passing_checks_in_full(engine: Engine):
    """Through the engine and the real target: the record of a passing check is complete and readable."""
    run = await engine.run(
        step(
            url="/catalog",
            assertions=[
                {"source": "status_code", "op": "eq", "expected": 200},
                {"source": "body", "expression": "$.data.items[0].id", "op": "exists"},
            ],
        )
    )
    assert run.outcome.status == "passed"
    assert run.one().assertions == [
        {
            "source": "status_code",
            "expression": None,
            "op": "eq",
            "expected": 200,
            "actual": 200,
            "passed": True,
            "message": "status_code eq 200",
        },
        {
            "source": "body",
            "expression": "$.data.items[0].id",
            "op": "exists",
            "expected": None,
            "actual": 1,
            "passed": True,
            "message": "body $.data.items[0].id exists",
        },
    ]


# ---- requests: what does not change per request is built once ----------------------------------------------
def test_constant_headers_are_built_once_and_copied_per_request():
    compiled = CompiledRequest(
        request(
            method="post",
            url="/x",
            headers={"Accept": "application/json", "X-Trace": "fixed"},
            body={"mode": "json", "content": {"a": "{{a}}"}},
        )
    )
    first, second = compiled.render({"a": 1}, BASE), compiled.render({"a": 2}, BASE)
    assert first.headers == [("Accept", "application/json"), ("X-Trace", "fixed"), ("Content-Type", "application/json")]
    assert first.headers[0] is second.headers[0]  # the same tuple, not rebuilt
    assert first.headers is not second.headers  # each request has its own list (auth and body add to it)
    assert second.headers == first.headers and (first.body, second.body) == (b'{"a":1}', b'{"a":2}')


def test_templated_headers_are_rendered_per_request_in_their_order():
    compiled = CompiledRequest(
        request(
            method="GET",
            url="/x",
            headers={"A": "1", "X-User": "{{user}}", "{{name}}": "v"},
            auth={"type": "bearer", "token": "{{token}}"},
        )
    )
    prepared = compiled.render({"user": "ann", "name": "X-Named", "token": "t-1"}, BASE)
    assert prepared.headers == [("A", "1"), ("X-User", "ann"), ("X-Named", "v"), ("Authorization", "Bearer t-1")]


@pytest.mark.parametrize(
    ("headers", "auth", "content_type"),
    [
        ({}, None, "application/json"),  # added
        ({"content-type": "application/vnd.x+json"}, None, "application/vnd.x+json"),  # the case's own, any case
        ({"{{h}}": "text/x"}, None, "text/x"),  # a templated name that renders as Content-Type
        ({}, {"type": "api_key", "key": "Content-Type", "value": "text/y"}, "text/y"),  # an API key header
    ],
)
def test_the_content_type_is_added_only_when_the_request_has_none(
    headers: dict[str, str], auth: dict[str, str] | None, content_type: str
):
    case: dict[str, Any] = {"method": "POST", "url": "/x", "headers": headers, "body": {"mode": "json", "content": 1}}
    if auth:
        case["auth"] = auth
    prepared = CompiledRequest(request(**case)).render({"h": "Content-Type"}, BASE)
    assert [value for name, value in prepared.headers if name.lower() == "content-type"] == [content_type]


def test_a_steps_timeout_object_is_built_once_not_per_request():
    transport = AiohttpTransport()
    assert transport._timeout(10.0) is transport._timeout(10.0)  # a step's timeout_ms / 1000
    assert transport._timeout(9.99937) is not transport._timeout(9.99937)  # what a redirect left: each time anew
