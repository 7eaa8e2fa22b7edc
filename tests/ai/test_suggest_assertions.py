"""Suggested assertions: what held in every recorded run, as checks the engine itself passes on those runs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from app.ai.failure_facts import recorded_responses
from app.ai.suggest_assertions import MAX_SUGGESTIONS, SCHEMA_CHARS, RecordedResponse, Suggestion, suggest
from app.auth.principal import Principal
from app.core.db import get_session_factory
from app.core.errors import InvalidInput, NotFound
from app.engine.checks import CompiledAssertion
from app.engine.masking import MASK
from app.engine.specs import Assertion
from app.engine.transport import Response
from app.models import User
from tests.ai.test_explain import API, OrderTarget, order_case, send
from tests.conftest import UserFactory
from tests.factories import create
from tests.local_server import serving

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"


def _order(number: int, total: float = 42.5, items: int = 2) -> dict[str, Any]:
    return {
        "code": 0,
        "msg": "success",
        "data": {
            "order_id": str(uuid.uuid4()),
            "id": 1000 + number,
            "status": "PAID",
            "paid": True,
            "total": total,
            "currency": "EUR",
            "created_at": f"2026-12-0{number}T10:1{number}:00.123Z",
            "token": JWT,
            "items": [{"sku": f"SKU-{n}", "qty": n + number} for n in range(items)],
            "tags": ["new", "web"],
            "note": None,
        },
    }


def _recorded(status: int, document: Any, duration_ms: float = 120.0) -> RecordedResponse:
    headers = (("Content-Type", "application/json; charset=utf-8"), ("Date", "Fri, 04 Dec 2026 10:00:00 GMT"))
    return RecordedResponse(status, headers, orjson.dumps(document).decode(), duration_ms)


def _engine_response(record: RecordedResponse) -> Response:
    """Built here from the record's parts, not by the code under test: the engine sees what a target sent."""
    return Response(
        status=record.status,
        headers=list(record.headers),
        body=record.body.encode(),
        elapsed_ms=record.duration_ms or 0.0,
    )


def _assert_valid_and_passing(suggestions: list[Suggestion], records: list[RecordedResponse]) -> None:
    assert 0 < len(suggestions) <= MAX_SUGGESTIONS
    for suggestion in suggestions:
        assert set(suggestion) == {"assertion", "why", "confidence"}
        assert suggestion["confidence"] in ("high", "medium") and suggestion["why"]
        spec = Assertion.model_validate(suggestion["assertion"])
        compiled = CompiledAssertion(spec)
        for record in records:
            result = compiled.evaluate(_engine_response(record), {})
            assert result["passed"], (suggestion, result)


def _by_path(suggestions: list[Suggestion]) -> dict[str, list[Suggestion]]:
    found: dict[str, list[Suggestion]] = {}
    for suggestion in suggestions:
        assertion = suggestion["assertion"]
        found.setdefault(assertion.get("expression") or assertion["source"], []).append(suggestion)
    return found


def test_three_runs_give_equality_for_what_stayed_and_format_for_ids_and_times() -> None:
    records = [_recorded(200, _order(n), duration_ms) for n, duration_ms in ((1, 80.0), (2, 95.0), (3, 110.0))]
    suggestions = suggest(records)
    _assert_valid_and_passing(suggestions, records)
    by_path = _by_path(suggestions)
    assert [s["assertion"] for s in suggestions[:2]] == [
        {"source": "status_code", "op": "eq", "expected": 200},
        {"source": "header", "expression": "Content-Type", "op": "contains", "expected": "application/json"},
    ]
    schema = by_path["json_schema"][0]["assertion"]["expected"]
    assert schema["type"] == "object" and schema["required"] == ["code", "data", "msg"]
    assert "$schema" not in schema
    # Values that stayed the same in every run are asserted by value, with high confidence.
    for path, value in (("$.code", 0), ("$.data.status", "PAID"), ("$.data.total", 42.5), ("$.data.note", None)):
        assert by_path[path][0]["assertion"]["op"] == "eq" and by_path[path][0]["assertion"]["expected"] == value
        assert by_path[path][0]["confidence"] == "high"
    assert by_path["$.data.tags"][0]["assertion"] == {
        "source": "body",
        "expression": "$.data.tags",
        "op": "eq",
        "expected": ["new", "web"],
    }
    # Ids, uuids, timestamps and tokens change by design: their type or format only.
    assert by_path["$.data.order_id"][0]["assertion"]["op"] == "regex"
    assert by_path["$.data.created_at"][0]["assertion"]["op"] == "regex"
    assert by_path["$.data.token"][0]["assertion"]["op"] == "regex"
    assert by_path["$.data.id"][0]["assertion"] == {
        "source": "body",
        "expression": "$.data.id",
        "op": "type",
        "expected": "integer",
    }
    # Arrays: their length when it held, and their items by type, never by value (items may come in any order).
    assert by_path["$.data.items"][0]["assertion"]["op"] == "length"
    assert [s["assertion"]["op"] for s in by_path["$.data.items[0].qty"]] == ["type"]
    assert by_path["$.data.items[0].qty"][0]["confidence"] == "medium"
    time_bound = by_path["response_time_ms"][0]["assertion"]
    assert time_bound == {"source": "response_time_ms", "op": "le", "expected": 400}  # p95 110 -> 110 + 200 -> 400


def test_values_that_changed_between_runs_are_not_asserted_by_value() -> None:
    records = [_recorded(200, _order(1, total=10.0, items=1)), _recorded(200, _order(2, total=12.0, items=3))]
    suggestions = suggest(records)
    _assert_valid_and_passing(suggestions, records)
    by_path = _by_path(suggestions)
    assert "$.data.total" not in by_path
    assert [s["assertion"]["op"] for s in by_path["$.data.items"]] == ["type"]


def test_one_run_asserts_only_values_that_look_like_constants_at_medium_confidence() -> None:
    document = {"code": 0, "ok": True, "state": "ACTIVE", "name": "Alice", "count": 17, "id": 12, "message": "x y"}
    records = [_recorded(201, document)]
    suggestions = suggest(records)
    _assert_valid_and_passing(suggestions, records)
    by_path = _by_path(suggestions)
    for path in ("$.code", "$.ok", "$.state"):
        assert by_path[path][0]["assertion"]["op"] == "eq" and by_path[path][0]["confidence"] == "medium"
    assert "$.name" not in by_path and "$.count" not in by_path and "$.message" not in by_path
    assert by_path["$.id"][0]["assertion"]["op"] == "type"


def test_differing_statuses_give_the_set_seen_and_a_slow_outlier_is_inside_the_time_bound() -> None:
    records = [_recorded(200, {"ok": True}, 50.0) for _ in range(30)] + [_recorded(201, {"ok": True}, 2000.0)]
    suggestions = suggest(records)
    _assert_valid_and_passing(suggestions, records)
    by_path = _by_path(suggestions)
    assert by_path["status_code"][0]["assertion"] == {"source": "status_code", "op": "in", "expected": [200, 201]}
    assert by_path["status_code"][0]["confidence"] == "medium"
    assert by_path["response_time_ms"][0]["assertion"]["expected"] == 2000


def test_a_text_body_seen_twice_is_asserted_and_a_masked_value_never_is() -> None:
    text = [RecordedResponse(200, (("Content-Type", "text/plain"),), "pong", 5.0) for _ in range(2)]
    suggestions = suggest(text)
    _assert_valid_and_passing(suggestions, text)
    assert {"source": "text", "op": "eq", "expected": "pong"} in [s["assertion"] for s in suggestions]

    masked = [_recorded(200, {"api_key": MASK, "kind": "key"}) for _ in range(2)]
    by_path = _by_path(suggest(masked))
    assert "$.api_key" not in by_path and by_path["$.kind"][0]["assertion"]["expected"] == "key"


def test_a_value_the_engine_would_read_as_a_template_is_left_out() -> None:
    records = [_recorded(200, {"greeting": "{{name}}", "kind": "hello"}) for _ in range(2)]
    suggestions = suggest(records)
    _assert_valid_and_passing(suggestions, records)
    assert "$.greeting" not in _by_path(suggestions)


def test_a_snapshot_cut_short_says_nothing_about_the_body() -> None:
    body = orjson.dumps({"ok": True, "rows": list(range(100))}).decode()
    snapshot = {
        "status": 200,
        "headers": [["Content-Type", "application/json"]],
        "body": body[:50],
        "size": len(body),
        "elapsed_ms": 12.5,
    }
    record = RecordedResponse.from_snapshot(snapshot, duration_ms=99.0)
    assert record is not None and not record.complete and record.duration_ms == 12.5
    sources = {s["assertion"]["source"] for s in suggest([record, record])}
    assert sources == {"status_code", "header", "response_time_ms"}
    assert RecordedResponse.from_snapshot({"status": None}) is None


def test_odd_keys_get_paths_the_engine_reads() -> None:
    document = {"a.b": 1, "it's": "yes", "空": "值", "sp ace": True, "ctl\x01": 1}
    records = [_recorded(200, document) for _ in range(2)]
    suggestions = suggest(records)
    _assert_valid_and_passing(suggestions, records)
    paths = set(_by_path(suggestions))
    assert {"$['a.b']", "$['it\\'s']", "$['空']", "$['sp ace']"} <= paths


def test_huge_and_deep_bodies_stay_bounded() -> None:
    wide = orjson.dumps({f"field_{n}": n for n in range(5000)}).decode()
    deep = '{"level":' * 900 + '"bottom"' + "}" * 900  # deeper than orjson writes, as deep as it reads
    body = f'{{"wide": {wide}, "deep": {deep}, "list": [{", ".join([wide] * 10)}]}}'
    records = [RecordedResponse(200, (("Content-Type", "application/json"),), body, 10.0) for _ in range(2)]
    suggestions = suggest(records)
    _assert_valid_and_passing(suggestions, records)
    assert len(suggestions) == MAX_SUGGESTIONS
    schema = next(s for s in suggestions if s["assertion"]["source"] == "json_schema")
    assert len(orjson.dumps(schema["assertion"]["expected"])) <= SCHEMA_CHARS
    assert max(len(s["assertion"].get("expression") or "") for s in suggestions) < 200


# ---- from real runs -----------------------------------------------------------------------------------------------
@pytest.fixture
async def orders() -> AsyncIterator[OrderTarget]:
    target = OrderTarget()
    async with serving(target.app()) as target.url:  # type: ignore[attr-defined]
        yield target


async def _responses(user: User, ids: list[int], **field: str) -> list[RecordedResponse]:
    async with get_session_factory()() as session:
        principal = Principal(user=await session.get(User, user.id))  # type: ignore[arg-type]
        return await recorded_responses(session, principal, ids, **field)


async def test_assertions_suggested_from_real_runs_pass_when_the_case_runs_again(
    api: httpx.AsyncClient, user: User, orders: OrderTarget
) -> None:
    ids = await order_case(api, orders.url)  # type: ignore[attr-defined]
    runs = [await send(api, ids) for _ in range(3)]
    records = await _responses(user, [run["id"] for run in runs] + [runs[0]["id"]])
    assert len(records) == 3 and all(record.status == 200 and record.complete for record in records)
    suggestions = suggest(records)
    _assert_valid_and_passing(suggestions, records)
    by_path = _by_path(suggestions)
    assert by_path["$.status"][0]["assertion"]["expected"] == "PAID"
    assert by_path["$.id"][0]["assertion"]["op"] == "regex" and by_path["$.created_at"][0]["assertion"]["op"] == "regex"

    # Saved on the case, they pass on the next real run (new ids and times included).
    case = (await api.get(f"{API}/cases/{ids['case']}")).json()
    assertions = [suggestion["assertion"] for suggestion in suggestions]
    patched = await api.patch(f"{API}/cases/{ids['case']}", json={"assertions": assertions, "version": case["version"]})
    assert patched.status_code == 200, patched.text
    again = await send(api, ids)
    assert again["status"] == "passed", [check for check in again["assertions"] if not check["passed"]]
    assert len(again["assertions"]) == len(assertions)

    # The target changes a stable field (total becomes amount): the suggested checks catch it.
    orders.phase = "renamed"
    changed = await send(api, ids)
    assert changed["status"] == "failed"
    failing = {check.get("expression") for check in changed["assertions"] if not check["passed"]}
    assert "$.total" in failing, failing


async def test_responses_are_read_only_from_visible_runs_of_one_case_that_got_an_answer(
    api: httpx.AsyncClient, user: User, make_user: UserFactory, orders: OrderTarget
) -> None:
    ids = await order_case(api, orders.url)  # type: ignore[attr-defined]
    first = await send(api, ids)
    other_case = await create(
        api, f"{API}/cases", {"project_id": ids["project"], "name": "again", "method": "GET", "url": "/order"}
    )
    other = await send(api, ids, other_case["id"])

    with pytest.raises(InvalidInput) as refused:
        await _responses(user, [first["id"], other["id"]])
    assert refused.value.details[0]["loc"] == ["body", "request_run_ids"]
    assert f"run {other['id']}: case {other_case['id']}" in refused.value.message
    with pytest.raises(InvalidInput) as empty:
        await _responses(user, [])
    assert empty.value.details[0]["loc"] == ["body", "request_run_ids"]
    with pytest.raises(NotFound):
        await _responses(user, [first["id"], 10**12])
    stranger = await make_user(email="stranger@example.com")
    with pytest.raises(NotFound):
        await _responses(stranger, [first["id"]])

    env = (await api.get(f"{API}/environments/{ids['env']}")).json()
    async with serving(OrderTarget().app()) as gone_url:
        pass  # nothing listens there any more
    await api.patch(f"{API}/environments/{ids['env']}", json={"base_url": gone_url, "version": env["version"]})
    errored = await send(api, ids)
    with pytest.raises(InvalidInput) as no_response:
        await _responses(user, [first["id"], errored["id"]])
    assert no_response.value.details[0]["loc"] == ["body", "request_run_ids", 1]
    assert f"request run {errored['id']} recorded no response (error: " in no_response.value.message
    with pytest.raises(InvalidInput) as single:
        await _responses(user, [errored["id"]], field="request_run_id")
    assert single.value.details[0]["loc"] == ["body", "request_run_id"]
