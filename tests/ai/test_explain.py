"""Failure explanations by rules: each rule names its cause from the facts a failed request run leaves."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiohttp import web

from app.ai.explain import (
    MAX_FAILED_ASSERTIONS,
    AttemptFacts,
    ClusterFacts,
    FailureFacts,
    ResponseFacts,
    explain,
)
from app.ai.failure_facts import gather
from app.auth.principal import Principal
from app.core.db import get_session_factory
from app.core.errors import NotFound
from app.engine.checks import check_result
from app.models import User
from tests.conftest import UserFactory
from tests.factories import create, project
from tests.local_server import serving
from tests.runs.conftest import wait_until_finished

API = "/api/v1"

JSON = {"content-type": "application/json"}


def _check(source: str, expression: str | None, op: str | None, expected: Any, actual: Any, message: str) -> Any:
    return check_result(source, expression, op, expected, actual, False, message)


STATUS_200 = lambda actual: _check(  # noqa: E731
    "status_code", None, "eq", 200, actual, f"status_code: expected eq 200, got {actual}"
)


def _failed(
    status: int | None = None,
    body: Any = None,
    *,
    error: str | None = None,
    checks: list[Any] | None = None,
    headers: dict[str, str] | None = None,
    run_status: str = "failed",
    duration_ms: float = 50.0,
    url: str = "http://shop.test/orders/1",
) -> AttemptFacts:
    response = None if status is None else ResponseFacts(status, headers if headers is not None else JSON, body)
    return AttemptFacts(
        request_run_id=20,
        status=run_status if status is not None or error is None else "error",
        error=error,
        assertions=checks if checks is not None else ([STATUS_200(status)] if status and status != 200 else []),
        method="GET",
        url=url,
        response=response,
        duration_ms=duration_ms,
        environment_id=1,
    )


def _passed(body: Any = None, headers: dict[str, str] | None = None, duration_ms: float = 50.0) -> AttemptFacts:
    return AttemptFacts(
        request_run_id=10,
        status="passed",
        assertions=[check_result("status_code", None, "eq", 200, 200, True, "status_code eq 200")],
        method="GET",
        url="http://shop.test/orders/1",
        response=ResponseFacts(200, headers if headers is not None else JSON, body),
        duration_ms=duration_ms,
        environment_id=1,
    )


def _why(run: AttemptFacts, **facts: Any) -> dict[str, Any]:
    explanation = explain(FailureFacts(run=run, name="get order", **facts))
    assert set(explanation) == {
        "summary",
        "likely_cause",
        "confidence",
        "evidence",
        "failed_assertions",
        "diff_from_last_pass",
        "suggestion",
    }
    assert explanation["summary"].startswith("'get order' ") and explanation["suggestion"]
    return dict(explanation)


def test_a_refused_connection_points_at_the_environment() -> None:
    error = (
        "ClientConnectorError: Cannot connect to host 127.0.0.1:1 ssl:default [Connect call failed ('127.0.0.1', 1)]"
    )
    explanation = _why(_failed(error=error), last_pass=_passed({"id": 1}))
    assert (explanation["likely_cause"], explanation["confidence"]) == ("environment", "high")
    assert "nothing accepted the connection" in explanation["evidence"][0]
    assert explanation["diff_from_last_pass"]["body"] == []  # no response now: nothing to diff, the error says why


def test_a_name_that_does_not_resolve_and_a_refused_certificate_point_at_the_environment() -> None:
    dns = "ClientConnectorDNSError: Cannot connect to host shop.invalid:443 ssl:default [Name or service not known]"
    assert _why(_failed(error=dns))["likely_cause"] == "environment"
    assert "host name does not resolve" in _why(_failed(error=dns))["evidence"][0]
    tls = (
        "ClientConnectorCertificateError: Cannot connect to host shop.test:443 ssl:True "
        "[SSLCertVerificationError: (1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed')]"
    )
    explanation = _why(_failed(error=tls))
    assert explanation["likely_cause"] == "environment" and "TLS" in explanation["evidence"][0]


def test_a_broken_connection_points_at_the_network() -> None:
    error = "the target reset the connection before answering (ClientOSError: [Errno 104] Connection reset by peer)"
    explanation = _why(_failed(error=error))
    assert (explanation["likely_cause"], explanation["confidence"]) == ("network", "high")


def test_401_and_403_point_at_authentication_even_when_the_schema_fails_too() -> None:
    explanation = _why(_failed(401, {"error": "token expired"}), last_pass=_passed({"id": 1}))
    assert (explanation["likely_cause"], explanation["confidence"]) == ("authentication", "high")
    assert "answered 401 (the last passing run got 200)" in explanation["evidence"][0]
    assert explanation["diff_from_last_pass"]["status"] == (200, 401)
    schema = _check("json_schema", None, None, {}, "(root)", "schema violation at (root): 'id' is a required property")
    forbidden = _why(_failed(403, {"detail": "no"}, checks=[STATUS_200(403), schema]))
    assert forbidden["likely_cause"] == "authentication"
    assert len(forbidden["failed_assertions"]) == 2


def test_an_auth_message_on_another_4xx_points_at_authentication() -> None:
    explanation = _why(_failed(400, {"message": "Invalid token: JWT expired"}))
    assert (explanation["likely_cause"], explanation["confidence"]) == ("authentication", "medium")


def test_a_timeout_and_a_slow_answer_point_at_slowness() -> None:
    timed_out = _why(_failed(error="timed out after 10000 ms"))
    assert (timed_out["likely_cause"], timed_out["confidence"]) == ("slowness", "high")
    slow_check = _check("response_time_ms", None, "le", 500, 1830.2, "response_time_ms: expected le 500, got 1830.2")
    slow = _why(_failed(200, {"id": 1}, checks=[slow_check], duration_ms=1830.2), last_pass=_passed({"id": 1}))
    assert slow["likely_cause"] == "slowness"
    assert any("took 1830.2 ms" in line for line in slow["evidence"])
    assert any("against 50 ms in the last pass" in line for line in slow["evidence"])


def test_a_schema_violation_or_a_field_gone_since_the_last_pass_is_a_contract_change() -> None:
    before = {"id": 7, "total": 12.5, "customer": {"name": "Ann"}}
    after = {"id": 8, "amount": 12.5, "customer": {"name": "Ann"}}
    total = _check("body", "$.total", "eq", 12.5, None, "body $.total: nothing there to compare")
    explanation = _why(_failed(200, after, checks=[total]), last_pass=_passed(before))
    assert (explanation["likely_cause"], explanation["confidence"]) == ("contract_change", "high")
    assert any("$.total" in line and "renamed? $.total -> $.amount" in line for line in explanation["evidence"])
    # The id changed too, but ids change by design: the diff leaves it out.
    assert explanation["diff_from_last_pass"]["body"] == [
        {"path": "$.total", "change": "removed", "before": 12.5, "after": None},
        {"path": "$.amount", "change": "added", "before": None, "after": 12.5},
    ]
    schema = _check("json_schema", None, None, {}, "total", "schema violation at total: 'abc' is not of type 'number'")
    by_schema = _why(_failed(200, {"total": "abc"}, checks=[schema]))
    assert (by_schema["likely_cause"], by_schema["confidence"]) == ("contract_change", "high")


def test_a_refusal_of_the_data_sent_points_at_the_data() -> None:
    invalid = _why(_failed(422, {"errors": [{"field": "qty", "message": "must be positive"}]}))
    assert (invalid["likely_cause"], invalid["confidence"]) == ("data", "high")
    duplicate = _why(_failed(409, {"message": "user already exists"}))
    assert duplicate["likely_cause"] == "data" and "already exists" in duplicate["evidence"][0]
    bare = _why(_failed(400, ""))
    assert (bare["likely_cause"], bare["confidence"]) == ("data", "medium")
    missing_variable = _why(_failed(error="step 'get order': unknown variable 'order_id'"))
    assert missing_variable["likely_cause"] == "data"


def test_a_step_that_passed_on_retry_or_a_flaky_cluster_is_flaky() -> None:
    retried = _why(_failed(500, {"error": "boom"}), attempt=1, attempts=2, passed_later=True)
    assert (retried["likely_cause"], retried["confidence"]) == ("flaky", "high")
    assert "attempt 1 of 2 recorded for this step" in retried["evidence"]
    cluster = ClusterFacts(id="abc123", signature="5xx | status_code eq | ...", size=12, label="flaky")
    clustered = _why(_failed(500, {"error": "boom"}), cluster=cluster)
    assert (clustered["likely_cause"], clustered["confidence"]) == ("flaky", "medium")
    assert "one of 12 failures in cluster abc123 (flaky)" in clustered["evidence"]
    # A stronger cause outweighs the cluster's label.
    assert _why(_failed(401, {}), cluster=cluster)["likely_cause"] == "authentication"


def test_an_unavailable_service_points_at_the_environment() -> None:
    explanation = _why(_failed(503, "<html>Service Unavailable</html>", headers={"content-type": "text/html"}))
    assert (explanation["likely_cause"], explanation["confidence"]) == ("environment", "high")
    server_error = _why(_failed(500, {"error": "NullPointerException"}))
    assert (server_error["likely_cause"], server_error["confidence"]) == ("environment", "low")


def test_nothing_recognisable_is_unknown_with_low_confidence_and_a_passed_run_has_nothing_to_explain() -> None:
    check = _check("body", "$.state", "eq", "PAID", "PENDING", "body $.state: expected eq 'PAID', got 'PENDING'")
    explanation = _why(_failed(200, {"state": "PENDING"}, checks=[check]))
    assert (explanation["likely_cause"], explanation["confidence"]) == ("unknown", "low")
    assert "no earlier passing run of this step (and dataset) to compare with" in explanation["evidence"]
    assert explanation["diff_from_last_pass"] is None
    assert "expected eq 'PAID', got 'PENDING'" in explanation["summary"]
    passed = _why(_passed({"id": 1}))
    assert passed["likely_cause"] == "unknown" and "no failure to explain" in passed["summary"]


def test_the_diff_leaves_out_headers_that_change_on_every_answer() -> None:
    before = {**JSON, "date": "Fri, 04 Dec 2026 10:00:00 GMT", "x-request-id": "a1", "x-api-version": "1"}
    after = {
        "content-type": "text/html",
        "date": "Fri, 04 Dec 2026 10:05:00 GMT",
        "x-request-id": "b2",
        "retry-after": "30",
    }
    diff = _why(_failed(200, "<html/>", headers=after, checks=[]), last_pass=_passed({"ok": True}, headers=before))[
        "diff_from_last_pass"
    ]
    assert diff["request_run_id"] == 10 and diff["status"] is None
    assert diff["headers"] == {
        "added": {"retry-after": "30"},
        "removed": {"x-api-version": "1"},
        "changed": {"content-type": ["application/json", "text/html"]},
    }
    assert diff["body"] == [
        {"path": "$", "change": "type_changed", "before": {"type": "object", "size": 1}, "after": "<html/>"}
    ]


def test_another_environment_or_host_since_the_last_pass_is_said() -> None:
    moved = _failed(200, {"state": "x"}, checks=[], url="http://staging.shop.test/orders/1")
    last = _passed({"state": "x"})
    explanation = _why(moved, last_pass=AttemptFacts(**{**last.__dict__, "environment_id": 2}))
    assert explanation["likely_cause"] == "environment" and explanation["confidence"] == "low"
    assert any("environment 1; the last pass in 2" in line for line in explanation["evidence"])
    assert any("staging.shop.test" in line for line in explanation["evidence"])


def test_what_an_explanation_carries_is_bounded() -> None:
    checks = [STATUS_200(500)] + [
        _check("body", f"$.f{n}", "eq", n, None, f"body $.f{n}: nothing there " + "x" * 5000) for n in range(100)
    ]
    body = {f"f{n}": "y" * 10_000 for n in range(500)}
    explanation = _why(_failed(500, body, checks=checks), last_pass=_passed({}))
    assert len(explanation["failed_assertions"]) == MAX_FAILED_ASSERTIONS
    assert len(explanation["summary"]) < 400 and all(len(line) <= 300 for line in explanation["evidence"])
    body_diff = explanation["diff_from_last_pass"]["body"]
    assert len(body_diff) == 101 and body_diff[-1]["change"] == "truncated"
    assert all(len(entry["after"] or "") <= 200 for entry in body_diff[:-1])


# ---- gathered from real runs ------------------------------------------------------------------------------------
class OrderTarget:
    """GET /order: phase "ok" answers an order (new id and time each call), "renamed" renames total to amount,
    "expired" answers 401, "flip" renames on every other call."""

    def __init__(self) -> None:
        self.phase = "ok"
        self.calls = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/order", self.order)
        return app

    async def order(self, request: web.Request) -> web.Response:
        if self.phase == "expired":
            return web.json_response({"error": "token expired"}, status=401)
        body: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": "PAID",
            "created_at": datetime.now(UTC).isoformat(),
            "items": [{"sku": "A-1", "qty": 2}],
        }
        self.calls += 1
        renamed = self.phase == "renamed" or (self.phase == "flip" and self.calls % 2 == 1)
        body["amount" if renamed else "total"] = 12.5
        return web.json_response(body)


@pytest.fixture
async def order_target() -> AsyncIterator[OrderTarget]:
    target = OrderTarget()
    async with serving(target.app()) as target.url:  # type: ignore[attr-defined]
        yield target


async def order_case(api: httpx.AsyncClient, base_url: str) -> dict[str, int]:
    """A project, an environment at the target and a case checking the order's status and total."""
    proj = await project(api)
    env = await create(api, f"{API}/projects/{proj['id']}/environments", {"name": "local", "base_url": base_url})
    case = await create(
        api,
        f"{API}/cases",
        {
            "project_id": proj["id"],
            "name": "get order",
            "method": "GET",
            "url": "/order",
            "assertions": [
                {"source": "status_code", "expected": 200},
                {"source": "body", "expression": "$.total", "expected": 12.5},
            ],
        },
    )
    return {"project": proj["id"], "env": env["id"], "case": case["id"]}


async def send(api: httpx.AsyncClient, ids: dict[str, int], case_id: int | None = None) -> dict[str, Any]:
    """The "Send" button: the one request run of a one-case run."""
    response = await api.post(f"{API}/cases/{case_id or ids['case']}/run", json={"environment_id": ids["env"]})
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    return dict(item)


async def _gather(user: User, request_run_id: int) -> FailureFacts:
    async with get_session_factory()() as session:
        principal = Principal(user=await session.get(User, user.id))  # type: ignore[arg-type]
        return await gather(session, principal, request_run_id)


async def test_gather_finds_the_last_pass_of_the_same_step_and_what_changed_since(
    api: httpx.AsyncClient, user: User, make_user: UserFactory, order_target: OrderTarget
) -> None:
    ids = await order_case(api, order_target.url)  # type: ignore[attr-defined]
    passes = [await send(api, ids) for _ in range(2)]
    assert [p["status"] for p in passes] == ["passed", "passed"]
    # A scenario running the same case is another step: its passes are not this one-case step's last pass.
    flow = await create(api, f"{API}/scenarios", {"project_id": ids["project"], "name": "checkout"})
    assert (await api.put(f"{API}/scenarios/{flow['id']}/steps", json=[{"case_id": ids["case"]}])).status_code == 200
    started = await api.post(f"{API}/scenarios/{flow['id']}/runs", json={"environment_id": ids["env"]})
    assert (await wait_until_finished(api, started.json()["id"]))["status"] == "passed"

    order_target.phase = "renamed"
    failed = await send(api, ids)
    assert failed["status"] == "failed"
    facts = await _gather(user, failed["id"])
    assert facts.last_pass is not None and facts.last_pass.request_run_id == passes[-1]["id"]
    assert (facts.attempt, facts.attempts, facts.passed_later, facts.flaky) == (1, 1, False, False)
    assert facts.run.method == "GET" and facts.run.url == f"{order_target.url}/order"  # type: ignore[attr-defined]
    # Its cluster is the one the clusters report shows, with the same id, size and label.
    assert facts.cluster is not None and facts.cluster.size == 1
    clusters = (await api.get(f"{API}/projects/{ids['project']}/failure-clusters")).json()["clusters"]
    assert [(c["id"], c["signature"], c["size"], c["label"]) for c in clusters] == [
        (facts.cluster.id, facts.cluster.signature, 1, facts.cluster.label)
    ]

    explanation = explain(facts)
    assert explanation["likely_cause"] == "contract_change" and explanation["confidence"] == "high"
    diff = explanation["diff_from_last_pass"]
    assert diff is not None and diff["request_run_id"] == passes[-1]["id"] and diff["status"] is None
    # The order's id and time changed too: ids and timestamps are left out of the diff.
    assert [(entry["path"], entry["change"]) for entry in diff["body"]] == [
        ("$.total", "removed"),
        ("$.amount", "added"),
    ]
    assert diff["headers"] == {"added": {}, "removed": {}, "changed": {}}
    assert [check["expression"] for check in explanation["failed_assertions"]] == ["$.total"]

    # The next failure's last pass is still the one before the first failure; a 401 says authentication.
    order_target.phase = "expired"
    expired = await send(api, ids)
    facts = await _gather(user, expired["id"])
    assert facts.last_pass is not None and facts.last_pass.request_run_id == passes[-1]["id"]
    explanation = explain(facts)
    assert explanation["likely_cause"] == "authentication"
    assert explanation["diff_from_last_pass"]["status"] == (200, 401)  # type: ignore[index]

    # The scenario's step has its own history: its last pass is the scenario run's, not the one-case runs'.
    started = await api.post(f"{API}/scenarios/{flow['id']}/runs", json={"environment_id": ids["env"]})
    run = await wait_until_finished(api, started.json()["id"])
    items = (await api.get(f"{API}/scenario-runs/{run['id']}/request-runs")).json()["items"]
    scenario_facts = await _gather(user, items[0]["id"])
    assert scenario_facts.last_pass is not None
    assert scenario_facts.last_pass.request_run_id not in {p["id"] for p in passes}
    assert scenario_facts.last_pass.request_run_id < failed["id"]

    # Someone outside the project does not learn the run exists.
    stranger = await make_user(email="stranger@example.com")
    with pytest.raises(NotFound):
        await _gather(stranger, failed["id"])


async def test_a_target_that_went_away_is_explained_as_the_environment(
    api: httpx.AsyncClient, user: User, order_target: OrderTarget
) -> None:
    ids = await order_case(api, order_target.url)  # type: ignore[attr-defined]
    passed = await send(api, ids)
    target = OrderTarget()
    async with serving(target.app()) as gone_url:
        pass  # served, then closed: nothing listens at this address any more
    patched = await api.patch(f"{API}/environments/{ids['env']}", json={"base_url": gone_url, "version": 1})
    assert patched.status_code == 200, patched.text
    errored = await send(api, ids)
    assert errored["status"] == "error"
    facts = await _gather(user, errored["id"])
    assert facts.run.response is None and facts.last_pass is not None
    assert facts.last_pass.request_run_id == passed["id"]
    explanation = explain(facts)
    assert (explanation["likely_cause"], explanation["confidence"]) == ("environment", "high")
    assert any("the request went to" in line for line in explanation["evidence"])
    diff = explanation["diff_from_last_pass"]
    assert diff is not None and diff["status"] == (200, None) and diff["body"] == []


async def test_an_attempt_that_a_retry_made_good_is_explained_as_flaky(
    api: httpx.AsyncClient, user: User, order_target: OrderTarget
) -> None:
    ids = await order_case(api, order_target.url)  # type: ignore[attr-defined]
    retry = {"max_attempts": 2, "backoff_ms": 0, "on_assertion_failure": True}
    case = (await api.get(f"{API}/cases/{ids['case']}")).json()
    patched = await api.patch(f"{API}/cases/{ids['case']}", json={"retry": retry, "version": case["version"]})
    assert patched.status_code == 200, patched.text
    order_target.phase, order_target.calls = "flip", 0
    response = await api.post(f"{API}/cases/{ids['case']}/run", json={"environment_id": ids["env"]})
    first, second = response.json()["items"]
    assert (first["status"], second["status"], second["flaky"]) == ("failed", "passed", True)
    facts = await _gather(user, first["id"])
    assert (facts.attempt, facts.attempts, facts.passed_later) == (1, 2, True)
    assert facts.last_pass is None  # the pass came after it
    assert facts.cluster is not None and facts.cluster.label == "flaky"
    explanation = explain(facts)
    assert (explanation["likely_cause"], explanation["confidence"]) == ("flaky", "high")
