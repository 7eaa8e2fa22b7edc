"""AI assistance through the API: every feature works with no model; with one (a local OpenAI-compatible
server), answers are validated before use, what leaves the server is masked, each call is recorded, budgets
and roles hold, and nothing becomes a case or an assertion until a person accepts its proposal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from app.core.config import get_settings
from app.models import AiInteraction, AiProposal, ApiRequest
from tests.conftest import assert_error, bearer, count_rows
from tests.factories import create, project
from tests.local_server import serving
from tests.runs.conftest import wait_until_finished

API = "/api/v1"
SECRET = "s3cr3t-Value-XYZ-42"  # the environment's secret variable
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


PLANTED = (SECRET, JWT, "hunter2-pass")


class Target:
    """An orders API that can break: /orders answers 500 while `broken`, and echoes what it was sent."""

    def __init__(self) -> None:
        self.broken = False
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/orders", self.orders)
        return app

    async def orders(self, request: web.Request) -> web.Response:
        echoed = {"key_seen": request.headers.get("X-Api-Key", ""), "session": JWT, "password": "hunter2-pass"}
        if self.broken:
            return web.json_response({"error": "order lookup failed", **echoed}, status=500)
        return web.json_response({"ok": True, "currency": "EUR", "count": 3, **echoed})


class FakeModel:
    """An OpenAI-compatible chat-completions API on 127.0.0.1 answering what the test queued."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.leaks: list[str] = []
        self.delay = 0.0
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.complete)
        return app

    async def complete(self, request: web.Request) -> web.Response:
        raw = await request.text()
        self.leaks += [secret for secret in PLANTED if secret in raw]  # every request, whatever the test
        self.received.append(json.loads(raw))
        status, content = self.answers.pop(0) if self.answers else (200, {})
        if self.delay:
            await asyncio.sleep(self.delay)
        if status != 200:
            return web.json_response({"error": {"message": "overloaded"}}, status=status)
        if isinstance(content, dict) and "refusal" in content:
            message = {"role": "assistant", "content": None, "refusal": content["refusal"]}
            return web.json_response({"model": "fake-1", "choices": [{"message": message}]})
        text = content if isinstance(content, str) else json.dumps(content)
        return web.json_response(
            {
                "model": "fake-1",
                "choices": [{"message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20},
            }
        )


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    served = Target()
    async with serving(served.app()) as served.url:
        yield served


@pytest.fixture
async def model(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeModel]:
    fake = FakeModel()
    async with serving(fake.app()) as url:
        settings = get_settings()
        monkeypatch.setattr(settings, "ai_base_url", f"{url}/v1")
        monkeypatch.setattr(settings, "ai_model", "fake-1")
        monkeypatch.setattr(settings, "ai_api_key", "model-api-key-123")
        monkeypatch.setattr(settings, "ai_retries", 1)
        yield fake
    assert fake.leaks == [], "a planted secret reached the model's API"


async def _setup(api: httpx.AsyncClient, target: Target) -> dict[str, Any]:
    proj = await project(api)
    env = await create(
        api,
        f"{API}/projects/{proj['id']}/environments",
        {"name": "local", "base_url": target.url, "secret_variables": {"api_key": SECRET}},
    )
    case = await create(
        api,
        f"{API}/cases",
        {
            "project_id": proj["id"],
            "name": "list orders",
            "method": "GET",
            "url": "/orders",
            "headers": {"X-Api-Key": "{{api_key}}"},
            "assertions": [{"source": "status_code", "expected": 200}],
        },
    )
    flow = await create(
        api, f"{API}/scenarios", {"project_id": proj["id"], "name": "orders", "settings": {"stop_on_failure": False}}
    )
    assert (await api.put(f"{API}/scenarios/{flow['id']}/steps", json=[{"case_id": case["id"]}])).status_code == 200
    return {"project": proj, "env": env["id"], "case": case["id"], "scenario": flow["id"]}


async def _run(api: httpx.AsyncClient, ids: dict[str, Any]) -> tuple[dict[str, Any], int]:
    started = await api.post(f"{API}/scenarios/{ids['scenario']}/runs", json={"environment_id": ids["env"]})
    assert started.status_code == 202, started.text
    run = await wait_until_finished(api, started.json()["id"])
    [request_run] = (await api.get(f"{API}/scenario-runs/{run['id']}/request-runs")).json()["items"]
    return run, request_run["id"]


async def _enable(api: httpx.AsyncClient, project_id: int, **fields: Any) -> None:
    version = (await api.get(f"{API}/projects/{project_id}")).json()["version"]
    response = await api.patch(f"{API}/projects/{project_id}", json={"ai_enabled": True, **fields, "version": version})
    assert response.status_code == 200, response.text


async def test_without_a_model_every_feature_works_by_its_deterministic_method(
    api: httpx.AsyncClient, target: Target
) -> None:
    ids = await _setup(api, target)
    passed_run, passed_id = await _run(api, ids)
    assert passed_run["status"] == "passed"

    # Suggested assertions become the case's only when accepted, and then hold on the next run.
    suggested = await api.post(f"{API}/ai/suggest-assertions", json={"request_run_id": passed_id})
    assert suggested.status_code == 201, suggested.text
    answer = suggested.json()
    assert answer["case_id"] == ids["case"] and answer["assertions"]
    [proposal] = answer["proposals"]
    assert proposal["source"] == "deterministic" and proposal["status"] == "open"
    before = (await api.get(f"{API}/cases/{ids['case']}")).json()["assertions"]
    assert len(before) == 1
    accepted = await api.post(f"{API}/ai/proposals/{proposal['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    after = (await api.get(f"{API}/cases/{ids['case']}")).json()["assertions"]
    assert len(after) == 1 + len(answer["assertions"])
    assert (await _run(api, ids))[0]["status"] == "passed"
    assert_error(await api.post(f"{API}/ai/proposals/{proposal['id']}/accept"), 409)

    # A failure is explained by rules, with its failed assertions and its difference from the last pass.
    target.broken = True
    failed_run, failed_id = await _run(api, ids)
    assert failed_run["status"] == "failed"
    explained = await api.post(f"{API}/request-runs/{failed_id}/explain")
    assert explained.status_code == 200, explained.text
    why = explained.json()
    assert why["model"] is None and why["likely_cause"] in ("environment", "data", "contract_change", "unknown")
    assert why["failed_assertions"] and why["diff_from_last_pass"]["status"] == [200, 500]
    assert SECRET not in explained.text

    # Clusters get a title from their signature; accepting one names the cluster.
    named = await api.post(f"{API}/ai/name-clusters", json={"project_id": ids["project"]["id"]})
    assert named.status_code == 201, named.text
    [title] = named.json()["proposals"]
    assert title["source"] == "deterministic" and "status_code" in title["payload"]["name"]
    assert (await api.post(f"{API}/ai/proposals/{title['id']}/accept")).status_code == 200
    clusters = (await api.get(f"{API}/projects/{ids['project']['id']}/failure-clusters")).json()["clusters"]
    assert clusters[0]["name"] == title["payload"]["name"]

    # A description needs a model: cases only, and the answer says why.
    generated = await api.post(
        f"{API}/ai/generate-cases",
        json={"project_id": ids["project"]["id"], "openapi": ORDERS_OPENAPI, "description": "list the orders"},
    )
    assert generated.status_code == 201, generated.text
    [cases_proposal] = generated.json()["proposals"]
    assert "model" in generated.json()["note"]
    before_cases = await count_rows(ApiRequest)
    applied = await api.post(f"{API}/ai/proposals/{cases_proposal['id']}/accept")
    assert applied.status_code == 200, applied.text
    assert await count_rows(ApiRequest) == before_cases + len(applied.json()["result"]["cases"]) > before_cases
    assert await count_rows(AiInteraction) == 0


async def test_a_described_flow_becomes_a_scenario_over_the_documented_operations_only(
    api: httpx.AsyncClient, target: Target, model: FakeModel
) -> None:
    ids = await _setup(api, target)
    await _enable(api, ids["project"]["id"])
    request = {"project_id": ids["project"]["id"], "openapi": ORDERS_OPENAPI, "description": "list the orders twice"}
    step = {
        "operation_id": "listOrders",
        "name": "list",
        "extract": [{"name": "n", "source": "body", "expression": "$.count"}],
    }
    model.answers.append((200, {"name": "orders twice", "steps": [step, {**step, "extract": []}]}))
    made = await api.post(f"{API}/ai/generate-cases", json=request)
    assert made.status_code == 201, made.text
    by_source = {p["source"]: p for p in made.json()["proposals"]}
    flow = next(s for s in by_source["model"]["payload"]["content"]["scenarios"] if s["key"] == "described-flow")
    assert [s["case"] for s in flow["steps"]] == ["GET /orders", "GET /orders"]
    assert all(s["key"] != "described-flow" for s in by_source["deterministic"]["payload"]["content"]["scenarios"])
    model.answers.append((200, {"name": "made up", "steps": [{"operation_id": "deleteEverything"}]}))
    refused = assert_error(await api.post(f"{API}/ai/generate-cases", json=request), 502, "ai_answer_invalid")
    assert "deleteEverything" in refused["message"]


async def test_a_model_answer_is_used_only_valid_and_nothing_secret_leaves(
    api: httpx.AsyncClient, target: Target, model: FakeModel
) -> None:
    ids = await _setup(api, target)
    await _run(api, ids)
    target.broken = True
    _, failed_id = await _run(api, ids)
    await _enable(api, ids["project"]["id"])
    model.answers.append(
        (
            200,
            {
                "explanation": "The orders endpoint answered 500 where it answered 200 before.",
                "likely_cause": "environment",
                "suggestion": "Check the orders service's logs.",
            },
        )
    )
    explained = await api.post(f"{API}/request-runs/{failed_id}/explain")
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert body["model"]["likely_cause"] == "environment" and body["failed_assertions"]

    [sent] = model.received
    assert sent["model"] == "fake-1" and sent["response_format"]["type"] == "json_schema"
    outgoing = json.dumps(sent)
    for secret in (SECRET, JWT, "hunter2-pass", "model-api-key-123"):
        assert secret not in outgoing, secret
    interactions = (await api.get(f"{API}/projects/{ids['project']['id']}/ai/interactions")).json()
    [record] = interactions["items"]
    assert (record["feature"], record["status"], record["prompt_version"]) == ("explain_failure", "ok", "v1")
    assert record["prompt_tokens"] + record["completion_tokens"] == 120 and record["accepted"] is None
    assert SECRET not in json.dumps(record["masked_input"]) and JWT not in json.dumps(record["masked_input"])


@pytest.mark.parametrize(
    "bad",
    [
        "not json at all",
        {"assertions": [{"name": "x", "assertion": {"source": "status_code", "expected": 200}, "extra": 1}]},
        {"assertions": [{"name": "x", "assertion": {"source": "expression", "expression": "__import__('os')"}}]},
        {"assertions": [{"name": "x", "assertion": {"source": "body", "expression": "$[", "op": "eq"}}]},
    ],
    ids=["not-json", "unknown-field", "unsafe-expression", "bad-jsonpath"],
)
async def test_an_invalid_or_unsafe_answer_is_refused_whole_and_nothing_is_stored(
    api: httpx.AsyncClient, target: Target, model: FakeModel, bad: Any
) -> None:
    ids = await _setup(api, target)
    _, passed_id = await _run(api, ids)
    await _enable(api, ids["project"]["id"])
    model.answers.append((200, bad))
    refused = await api.post(
        f"{API}/ai/suggest-assertions", json={"request_run_id": passed_id, "checks": ["the currency is EUR"]}
    )
    body = assert_error(refused, 502, "ai_answer_invalid")
    assert "nothing was stored" in body["message"]
    assert await count_rows(AiProposal) == 0  # not even the deterministic proposal of the same request
    [record] = (await api.get(f"{API}/projects/{ids['project']['id']}/ai/interactions")).json()["items"]
    assert record["status"] == "invalid" and record["error"]


async def test_a_valid_model_proposal_is_accepted_through_the_case_service(
    api: httpx.AsyncClient, target: Target, model: FakeModel
) -> None:
    ids = await _setup(api, target)
    _, passed_id = await _run(api, ids)
    await _enable(api, ids["project"]["id"])
    rule = {"source": "body", "expression": "$.currency", "op": "eq", "expected": "EUR"}
    model.answers.append((200, {"assertions": [{"name": "priced in euros", "assertion": rule}]}))
    answer = (
        await api.post(f"{API}/ai/suggest-assertions", json={"request_run_id": passed_id, "checks": ["EUR"]})
    ).json()
    by_source = {p["source"]: p for p in answer["proposals"]}
    assert set(by_source) == {"deterministic", "model"}
    edited = {"case_id": ids["case"], "assertions": [{**rule, "expected": "USD"}]}
    bad_edit = await api.post(
        f"{API}/ai/proposals/{by_source['model']['id']}/accept", json={"payload": {"case_id": ids["case"]}}
    )
    assert "assertions" in str(assert_error(bad_edit, 422))
    accepted = await api.post(f"{API}/ai/proposals/{by_source['model']['id']}/accept", json={"payload": edited})
    assert accepted.status_code == 200, accepted.text
    case = (await api.get(f"{API}/cases/{ids['case']}")).json()
    assert case["assertions"][-1]["expected"] == "USD"  # the edit, not the proposal, was created
    [record] = (await api.get(f"{API}/projects/{ids['project']['id']}/ai/interactions")).json()["items"]
    assert record["accepted"] is True


async def test_budgets_failures_and_roles(
    api: httpx.AsyncClient, client: httpx.AsyncClient, make_user: Any, target: Target, model: FakeModel
) -> None:
    ids = await _setup(api, target)
    await _run(api, ids)
    target.broken = True
    _, failed_id = await _run(api, ids)
    project_id = ids["project"]["id"]

    # Off until enabled: the rules still answer.
    assert (await api.post(f"{API}/request-runs/{failed_id}/explain")).json()["model"] is None
    assert model.received == []

    # Only project admins turn it on or read what was asked.
    editor = await make_user("editor@example.com")
    assert (
        await api.post(f"{API}/projects/{project_id}/members", json={"email": editor.email, "role": "editor"})
    ).status_code == 201
    version = (await api.get(f"{API}/projects/{project_id}")).json()["version"]
    as_editor = {"headers": bearer(editor)}
    refused = await client.patch(
        f"{API}/projects/{project_id}", json={"ai_enabled": True, "version": version}, **as_editor
    )
    assert_error(refused, 403)
    assert_error(await client.get(f"{API}/projects/{project_id}/ai/interactions", **as_editor), 403)
    stranger = await make_user("stranger@example.com")
    named = (await api.post(f"{API}/ai/name-clusters", json={"project_id": project_id})).json()
    proposal_id = named["proposals"][0]["id"]
    assert_error(await client.get(f"{API}/ai/proposals/{proposal_id}", headers=bearer(stranger)), 404)

    # The model's API failing (after its retry) is a 502 on record; the budget then stops further calls.
    await _enable(api, project_id, ai_monthly_token_budget=100)
    model.answers += [(503, None), (503, None)]
    assert_error(await api.post(f"{API}/request-runs/{failed_id}/explain"), 502, "ai_failed")
    model.answers.append((200, {"explanation": "It failed.", "likely_cause": "unknown", "suggestion": ""}))
    assert (await api.post(f"{API}/request-runs/{failed_id}/explain")).status_code == 200
    spent = await api.post(f"{API}/request-runs/{failed_id}/explain")
    assert_error(spent, 429, "ai_budget_exhausted")
    assert int(spent.headers["Retry-After"]) > 0
    statuses = [r["status"] for r in (await api.get(f"{API}/projects/{project_id}/ai/interactions")).json()["items"]]
    assert statuses == ["ok", "failed"]
    assert await count_rows(ApiRequest) == 1


ORDERS_OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "orders", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:9"}],
    "paths": {
        "/orders": {
            "get": {
                "operationId": "listOrders",
                "responses": {"200": {"description": "the orders"}},
            }
        }
    },
}


@pytest.mark.parametrize(
    ("answers", "delay", "code", "said"),
    [
        ([(429, None), (429, None)], 0.0, "ai_failed", "429"),
        ([(200, {"refusal": "I can't help with that."})], 0.0, "ai_failed", "refused"),
        ([(200, {})], 2.0, "ai_failed", "in time"),
    ],
    ids=["rate-limited", "refusal", "timeout"],
)
async def test_no_usable_answer_is_a_clear_502_and_writes_nothing(
    api: httpx.AsyncClient,
    target: Target,
    model: FakeModel,
    monkeypatch: pytest.MonkeyPatch,
    answers: list[tuple[int, Any]],
    delay: float,
    code: str,
    said: str,
) -> None:
    ids = await _setup(api, target)
    _, passed_id = await _run(api, ids)
    await _enable(api, ids["project"]["id"])
    monkeypatch.setattr(get_settings(), "ai_timeout_seconds", 0.5)
    monkeypatch.setattr(get_settings(), "ai_retries", 1 if delay == 0 else 0)
    model.answers += answers
    model.delay = delay
    refused = await api.post(f"{API}/ai/suggest-assertions", json={"request_run_id": passed_id, "checks": ["EUR"]})
    assert said in assert_error(refused, 502, code)["message"]
    assert await count_rows(AiProposal) == 0
    [record] = (await api.get(f"{API}/projects/{ids['project']['id']}/ai/interactions")).json()["items"]
    assert record["status"] == "failed" and said in record["error"]


async def test_an_accepted_described_flow_runs_green_and_a_url_outside_the_environments_is_refused(
    api: httpx.AsyncClient, target: Target, model: FakeModel
) -> None:
    ids = await _setup(api, target)
    await _enable(api, ids["project"]["id"])
    document = {**ORDERS_OPENAPI, "servers": [{"url": target.url}]}
    request = {"project_id": ids["project"]["id"], "openapi": document, "description": "list the orders twice"}
    outside = {"operation_id": "listOrders", "variables": {"callback": "https://attacker.example/steal"}}
    model.answers.append((200, {"name": "exfiltrate", "steps": [outside]}))
    refused = assert_error(await api.post(f"{API}/ai/generate-cases", json=request), 502, "ai_answer_invalid")
    assert "outside the project's environments" in refused["message"]

    step = {"operation_id": "listOrders", "extract": [{"name": "n", "source": "body", "expression": "$.count"}]}
    model.answers.append((200, {"name": "orders twice", "steps": [step, {"operation_id": "listOrders"}]}))
    made = (await api.post(f"{API}/ai/generate-cases", json=request)).json()
    proposal = next(p for p in made["proposals"] if p["source"] == "model")
    applied = await api.post(f"{API}/ai/proposals/{proposal['id']}/accept")
    assert applied.status_code == 200, applied.text
    report = applied.json()["result"]
    flow_id = next(s["id"] for s in report["scenarios"] if s["key"] == "described-flow")
    environment_id = report["environments"][0]["id"]
    started = await api.post(f"{API}/scenarios/{flow_id}/runs", json={"environment_id": environment_id})
    assert started.status_code == 202, started.text
    run = await wait_until_finished(api, started.json()["id"])
    assert run["status"] == "passed", run
