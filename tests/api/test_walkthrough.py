"""One scripted walk through the API, the way a QA engineer builds and then maintains a checkout flow.

Each step checks the answer's shape (ids, versions, order, owner) as a script or CI job would rely on it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.secret_box import unseal
from app.models import ApiRequestDataset, Environment, TestScenarioCase, TestScenarioDataset
from tests.conftest import assert_error

API = "/api/v1"
PROJECT_KEYS = {
    "id", "name", "description", "owner_id", "version", "created_at", "updated_at", "retention_body_days",
    "retention_row_days", "bodies_pruned_before", "rows_pruned_before", "ai_enabled", "ai_monthly_token_budget",
}  # fmt: skip
ENVIRONMENT_KEYS = {
    "id", "project_id", "name", "base_url", "variables", "secret_variables", "verify_tls", "proxy", "version",
    "created_at", "updated_at",
}  # fmt: skip
CASE_KEYS = {
    "id", "project_id", "owner_id", "name", "description", "method", "url", "headers", "query", "body", "auth",
    "extractors", "assertions", "pre_processors", "post_processors", "poll", "timeout_ms", "retry",
    "follow_redirects", "status", "visibility", "run_permission", "tags", "version", "created_at", "updated_at",
}  # fmt: skip
DATASET_KEYS = {"id", "case_id", "name", "variables", "enabled", "position", "version", "created_at", "updated_at"}
SCENARIO_KEYS = {
    "id", "project_id", "owner_id", "name", "description", "variables", "settings", "setup", "teardown", "status",
    "visibility", "tags", "version", "created_at", "updated_at",
}  # fmt: skip
STEP_KEYS = {"id", "case_id", "position", "alias", "enabled", "skip_if", "variables", "dataset_mode", "dataset_ids"}
ROW_KEYS = {"id", "name", "variables", "position"}
PAGE_KEYS = {"items", "total", "page", "page_size"}


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await client.post(f"{API}/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    token = response.json()
    assert set(token) == {"access_token", "token_type"}
    assert token["token_type"] == "bearer"
    return {"Authorization": f"Bearer {token['access_token']}"}


async def ok(response: Awaitable[httpx.Response] | httpx.Response, status: int = 200) -> Any:
    if not isinstance(response, httpx.Response):
        response = await response
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if status != 204 else None


def subset(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    """Every field sent comes back with the same value (the server may add defaults around it)."""
    for key, value in expected.items():
        assert actual[key] == value, (key, actual[key], value)


def as_step_input(step: dict[str, Any]) -> dict[str, Any]:
    """A step as read, sent back for PUT: `position` is given by the list order."""
    return {key: value for key, value in step.items() if key != "position"}


async def db_scalar(session: AsyncSession, statement: Any) -> Any:
    """Read committed data directly, then end the transaction so the next read is not a stale snapshot."""
    try:
        return await session.scalar(statement)
    finally:
        await session.rollback()


async def test_qa_engineer_builds_a_checkout_flow_then_maintains_clones_and_retires_it(
    client: httpx.AsyncClient, make_user: Any, session: AsyncSession
) -> None:
    # --- Sign in with email and password, as the web UI and CI scripts do.
    qa = await make_user(email="qa.lead@example.com", password="pay-flow-2026")
    client.headers.update(await sign_in(client, "QA.Lead@example.com", "pay-flow-2026"))
    me = await ok(client.get(f"{API}/auth/me"))
    assert me["id"] == qa.id and me["email"] == "qa.lead@example.com"

    # --- A project for the shop team.
    project = await ok(client.post(f"{API}/projects", json={"name": "Shop", "description": "web shop API"}), 201)
    assert set(project) == PROJECT_KEYS
    assert project["owner_id"] == qa.id and project["version"] == 1 and project["name"] == "Shop"
    pid = project["id"]
    assert (await ok(client.get(f"{API}/projects/{pid}"))) == project

    # --- A staging environment with a secret that never leaves through the API.
    env_in = {
        "name": "staging",
        "base_url": "https://staging.shop.test/",
        "variables": {"username": "alice", "qty": 2, "currency": "EUR"},
        "secret_variables": {"password": "hunter2-very-secret"},
        "verify_tls": True,
        "proxy": None,
    }
    env_response = await client.post(f"{API}/projects/{pid}/environments", json=env_in)
    environment = await ok(env_response, 201)
    assert "hunter2-very-secret" not in env_response.text
    assert set(environment) == ENVIRONMENT_KEYS
    assert environment["project_id"] == pid and environment["version"] == 1
    assert environment["base_url"] == "https://staging.shop.test"  # trailing slash dropped: URLs join cleanly
    assert environment["variables"] == {"username": "alice", "qty": 2, "currency": "EUR"}
    assert environment["secret_variables"] == {"password": "******"}
    env_id = environment["id"]
    assert (await ok(client.get(f"{API}/environments/{env_id}")))["secret_variables"] == {"password": "******"}
    assert [e["id"] for e in await ok(client.get(f"{API}/projects/{pid}/environments"))] == [env_id]

    # The UI sends the form back as it read it (mask included) with one more secret and a changed variable.
    patched = await ok(
        client.patch(
            f"{API}/environments/{env_id}",
            json={
                "version": 1,
                "variables": {"username": "alice", "qty": 3, "currency": "EUR"},
                "secret_variables": {"password": "******", "api_key": "k-123456"},
            },
        )
    )
    assert patched["version"] == 2
    assert patched["variables"]["qty"] == 3
    assert patched["secret_variables"] == {"password": "******", "api_key": "******"}
    stored = await db_scalar(session, select(Environment.secret_variables).where(Environment.id == env_id))
    assert "hunter2-very-secret" not in json.dumps(stored)  # encrypted at rest
    assert {name: unseal(value) for name, value in stored.items()} == {
        "password": "hunter2-very-secret",
        "api_key": "k-123456",
    }

    # --- Three cases: log in -> create an order -> pay.
    login_in = {
        "project_id": pid,
        "name": "login",
        "method": "post",
        "url": "/login",
        "headers": {"Content-Type": "application/json"},
        "body": {"mode": "json", "content": {"username": "{{username}}", "password": "{{password}}"}},
        "extractors": [{"name": "token", "source": "body", "expression": "$.data.token"}],
        "assertions": [
            {"source": "status_code", "op": "eq", "expected": 200},
            {"source": "body", "expression": "$.code", "op": "eq", "expected": 0},
        ],
        "tags": ["smoke", "auth"],
    }
    order_in = {
        "project_id": pid,
        "name": "create order",
        "method": "POST",
        "url": "/orders",
        "headers": {"Authorization": "Bearer {{token}}", "Content-Type": "application/json"},
        "body": {"mode": "json", "content": {"sku": "{{sku}}", "qty": "{{qty}}"}},
        "extractors": [{"name": "order_id", "source": "body", "expression": "$.data.id"}],
        "assertions": [
            {"source": "status_code", "op": "eq", "expected": 201},
            {"source": "body", "expression": "$.data.status", "op": "eq", "expected": "CREATED"},
        ],
        "tags": ["checkout"],
    }
    pay_in = {
        "project_id": pid,
        "name": "pay by card",
        "method": "POST",
        "url": "/orders/{{order_id}}/pay",
        "headers": {"Authorization": "Bearer {{token}}"},
        "body": {"mode": "json", "content": {"method": "card"}},
        "extractors": [{"name": "paid_at", "source": "body", "expression": "$.data.paid_at"}],
        "assertions": [
            {"source": "status_code", "op": "eq", "expected": 200},
            {"source": "body", "expression": "$.data.status", "op": "eq", "expected": "PAID"},
        ],
        "tags": ["checkout"],
    }
    login = await ok(client.post(f"{API}/cases", json=login_in), 201)
    order = await ok(client.post(f"{API}/cases", json=order_in), 201)
    pay = await ok(client.post(f"{API}/cases", json=pay_in), 201)
    for created, sent in ((login, login_in), (order, order_in), (pay, pay_in)):
        assert set(created) == CASE_KEYS
        assert created["owner_id"] == qa.id and created["project_id"] == pid and created["version"] == 1
        assert created["status"] == "active" and created["visibility"] == "project"
        assert sorted(created["tags"]) == sorted(sent["tags"])
        assert created["headers"] == sent["headers"] and created["body"]["content"] == sent["body"]["content"]
        assert len(created["extractors"]) == len(sent["extractors"])
        for got, want in zip(created["extractors"], sent["extractors"], strict=True):
            subset(want, got)
        assert len(created["assertions"]) == len(sent["assertions"])
        for got, want in zip(created["assertions"], sent["assertions"], strict=True):
            subset(want, got)
    assert login["method"] == "POST"  # normalised
    assert login["extractors"][0]["name"] == "token"
    assert order["headers"]["Authorization"] == "Bearer {{token}}"
    assert order["extractors"][0] == {"name": "order_id", "source": "body", "expression": "$.data.id"}
    assert pay["assertions"][1] == {"source": "body", "expression": "$.data.status", "op": "eq", "expected": "PAID"}
    assert len({login["id"], order["id"], pay["id"]}) == 3
    assert (await ok(client.get(f"{API}/cases/{order['id']}"))) == order

    # --- Datasets: two accounts for the login case.
    alice = await ok(
        client.post(
            f"{API}/cases/{login['id']}/datasets",
            json={"name": "alice", "variables": {"username": "alice", "password": "pw-a"}},
        ),
        201,
    )
    bob = await ok(
        client.post(
            f"{API}/cases/{login['id']}/datasets",
            json={"name": "bob", "variables": {"username": "bob", "password": "pw-b"}, "enabled": False},
        ),
        201,
    )
    for dataset in (alice, bob):
        assert set(dataset) == DATASET_KEYS
        assert dataset["case_id"] == login["id"] and dataset["version"] == 1
    assert (alice["position"], alice["enabled"]) == (0, True)
    assert (bob["position"], bob["enabled"]) == (1, False)
    listed = await ok(client.get(f"{API}/cases/{login['id']}/datasets"))
    assert [d["id"] for d in listed] == [alice["id"], bob["id"]]
    bob = await ok(client.patch(f"{API}/datasets/{bob['id']}", json={"version": 1, "enabled": True}))
    assert bob["enabled"] is True and bob["version"] == 2

    # --- The scenario, with its settings.
    settings = {
        "concurrency": 4,
        "stop_on_failure": False,
        "timeout_ms": 120_000,
        "retry": {"max_attempts": 2},
        "rate_limit": {"per_second": 5, "burst": 10},
    }
    scenario = await ok(
        client.post(
            f"{API}/scenarios",
            json={
                "project_id": pid,
                "name": "checkout",
                "description": "log in, order, pay",
                "variables": {"sku": "SKU-1"},
                "settings": settings,
                "tags": ["smoke", "checkout"],
            },
        ),
        201,
    )
    assert set(scenario) == SCENARIO_KEYS
    assert scenario["owner_id"] == qa.id and scenario["project_id"] == pid and scenario["version"] == 1
    assert scenario["variables"] == {"sku": "SKU-1"}
    assert scenario["settings"]["concurrency"] == 4 and scenario["settings"]["stop_on_failure"] is False
    assert scenario["settings"]["timeout_ms"] == 120_000
    assert scenario["settings"]["retry"]["max_attempts"] == 2
    assert scenario["settings"]["rate_limit"] == {"per_second": 5, "burst": 10}
    assert scenario["setup"] == [] and scenario["teardown"] == []
    assert sorted(scenario["tags"]) == ["checkout", "smoke"]
    sid = scenario["id"]
    assert await ok(client.get(f"{API}/scenarios/{sid}/steps")) == []

    async def scenario_version() -> int:
        return (await ok(client.get(f"{API}/scenarios/{sid}")))["version"]

    # --- Three steps, first put down in the wrong order (order before login).
    steps = await ok(
        client.put(
            f"{API}/scenarios/{sid}/steps",
            json=[
                {"case_id": order["id"], "alias": "order", "variables": {"qty": 1}},
                {
                    "case_id": login["id"],
                    "alias": "login",
                    "dataset_mode": "selected",
                    "dataset_ids": [alice["id"]],
                },
                {"case_id": pay["id"], "alias": "pay", "skip_if": 'vars["skip_pay"] == True'},
            ],
        )
    )
    assert all(set(step) == STEP_KEYS for step in steps)
    assert [s["position"] for s in steps] == [0, 1, 2]
    assert [s["case_id"] for s in steps] == [order["id"], login["id"], pay["id"]]
    assert [s["alias"] for s in steps] == ["order", "login", "pay"]
    assert steps[0]["variables"] == {"qty": 1} and steps[0]["dataset_mode"] == "none"
    assert steps[1]["dataset_mode"] == "selected" and steps[1]["dataset_ids"] == [alice["id"]]
    assert steps[2]["skip_if"] == 'vars["skip_pay"] == True' and all(s["enabled"] for s in steps)
    assert len({s["id"] for s in steps}) == 3
    assert await ok(client.get(f"{API}/scenarios/{sid}/steps")) == steps
    assert await scenario_version() == 2

    # --- Data rows: each row is one iteration of the whole flow.
    rows = await ok(
        client.put(
            f"{API}/scenarios/{sid}/datasets",
            json=[{"name": "one item", "variables": {"qty": 1}}, {"name": "bulk", "variables": {"qty": 50}}],
        )
    )
    assert all(set(row) == ROW_KEYS for row in rows)
    assert [(r["name"], r["variables"], r["position"]) for r in rows] == [
        ("one item", {"qty": 1}, 0),
        ("bulk", {"qty": 50}, 1),
    ]
    assert await ok(client.get(f"{API}/scenarios/{sid}/datasets")) == rows
    assert await scenario_version() == 3

    # --- Reorder: login first. Same step ids, new positions, the scenario's version moves on.
    order_step, login_step, pay_step = steps
    reordered = await ok(
        client.put(
            f"{API}/scenarios/{sid}/steps",
            json=[as_step_input(login_step), as_step_input(order_step), as_step_input(pay_step)],
        )
    )
    assert [s["id"] for s in reordered] == [login_step["id"], order_step["id"], pay_step["id"]]
    assert [s["case_id"] for s in reordered] == [login["id"], order["id"], pay["id"]]
    assert [s["position"] for s in reordered] == [0, 1, 2]
    assert reordered[0]["dataset_ids"] == [alice["id"]] and reordered[1]["variables"] == {"qty": 1}
    assert await scenario_version() == 4

    # --- Switch payment method: remove the card step and add a wallet step, in one PUT.
    wallet = await ok(
        client.post(
            f"{API}/cases",
            json={
                **pay_in,
                "name": "pay by wallet",
                "body": {"mode": "json", "content": {"method": "wallet"}},
                "extractors": [{"name": "wallet_tx", "source": "body", "expression": "$.data.tx"}],
            },
        ),
        201,
    )
    switched = await ok(
        client.put(
            f"{API}/scenarios/{sid}/steps",
            json=[
                as_step_input(reordered[0]),
                as_step_input(reordered[1]),
                {"case_id": wallet["id"], "alias": "pay"},
            ],
        )
    )
    assert [s["case_id"] for s in switched] == [login["id"], order["id"], wallet["id"]]
    assert [s["id"] for s in switched[:2]] == [login_step["id"], order_step["id"]]
    assert switched[2]["id"] not in {login_step["id"], order_step["id"], pay_step["id"]}
    assert [s["position"] for s in switched] == [0, 1, 2]
    assert await scenario_version() == 5
    step_ids = list(await session.scalars(select(TestScenarioCase.id).where(TestScenarioCase.scenario_id == sid)))
    await session.rollback()
    assert sorted(step_ids) == sorted(s["id"] for s in switched)  # the card step's row is gone
    # The card case is no longer used by anything, so it may go.
    await ok(client.delete(f"{API}/cases/{pay['id']}"), 204)

    # --- Two people edit the order case: the second save, based on version 1, is refused.
    first = await ok(client.patch(f"{API}/cases/{order['id']}", json={"version": 1, "timeout_ms": 5000}))
    assert first["version"] == 2 and first["timeout_ms"] == 5000
    stale = await client.patch(f"{API}/cases/{order['id']}", json={"version": 1, "name": "create order v2"})
    error = assert_error(stale, 409, "version_conflict")
    assert error["details"] and error["details"][0]["loc"] == ["body", "version"]
    unchanged = await ok(client.get(f"{API}/cases/{order['id']}"))
    assert (unchanged["name"], unchanged["version"], unchanged["timeout_ms"]) == ("create order", 2, 5000)
    renamed = await ok(client.patch(f"{API}/cases/{order['id']}", json={"version": 2, "name": "create order v2"}))
    assert (renamed["name"], renamed["version"]) == ("create order v2", 3)
    assert renamed["headers"] == order["headers"] and renamed["timeout_ms"] == 5000  # the rest kept

    # --- The login case is used by the flow: deleting it is refused, archiving it is fine.
    error = assert_error(await client.delete(f"{API}/cases/{login['id']}"), 409, "case_in_use")
    assert "'checkout'" in error["message"] and f"#{sid}" in error["message"]
    assert error["details"][0]["scenarios"] == [{"id": sid, "name": "checkout"}]
    assert (await ok(client.get(f"{API}/cases/{login['id']}")))["version"] == 1
    archived = await ok(client.patch(f"{API}/cases/{login['id']}", json={"version": 1, "status": "archived"}))
    assert (archived["status"], archived["version"]) == ("archived", 2)
    page = await ok(client.get(f"{API}/cases", params={"project_id": pid, "status": "archived"}))
    assert set(page) == PAGE_KEYS
    assert [c["id"] for c in page["items"]] == [login["id"]] and page["total"] == 1
    active = await ok(client.get(f"{API}/cases", params={"project_id": pid, "status": "active"}))
    assert sorted(c["id"] for c in active["items"]) == sorted([order["id"], wallet["id"]])
    # Archiving keeps the flow's history intact.
    assert (await ok(client.get(f"{API}/scenarios/{sid}/steps")))[0]["case_id"] == login["id"]

    # --- A developer clones the flow to try a variant: a full, independent copy that is theirs.
    dev = await make_user(email="dev@example.com", password="dev-password-1")
    dev_auth = await sign_in(client, "dev@example.com", "dev-password-1")
    member = await ok(
        client.post(f"{API}/projects/{pid}/members", json={"email": "dev@example.com", "role": "editor"}), 201
    )
    assert (member["user_id"], member["role"]) == (dev.id, "editor")
    source = await ok(client.get(f"{API}/scenarios/{sid}"))
    clone = await ok(client.post(f"{API}/scenarios/{sid}/clone", headers=dev_auth), 201)
    assert set(clone) == SCENARIO_KEYS
    assert clone["id"] != sid
    assert clone["owner_id"] == dev.id != qa.id
    assert clone["version"] == 1 and clone["name"] == "checkout (copy)" and clone["project_id"] == pid
    assert sorted(clone["tags"]) == sorted(source["tags"]) == ["checkout", "smoke"]
    for field in ("description", "variables", "settings", "setup", "teardown", "status", "visibility"):
        assert clone[field] == source[field], field
    clone_steps = await ok(client.get(f"{API}/scenarios/{clone['id']}/steps"))
    assert [s["case_id"] for s in clone_steps] == [login["id"], order["id"], wallet["id"]]
    assert [s["position"] for s in clone_steps] == [0, 1, 2]
    assert not {s["id"] for s in clone_steps} & {s["id"] for s in switched}
    for copied, original in zip(clone_steps, switched, strict=True):
        assert {k: v for k, v in copied.items() if k != "id"} == {k: v for k, v in original.items() if k != "id"}
    clone_rows = await ok(client.get(f"{API}/scenarios/{clone['id']}/datasets"))
    assert [(r["name"], r["variables"], r["position"]) for r in clone_rows] == [
        (r["name"], r["variables"], r["position"]) for r in rows
    ]
    assert not {r["id"] for r in clone_rows} & {r["id"] for r in rows}
    # The source is untouched by the clone.
    assert (await ok(client.get(f"{API}/scenarios/{sid}")))["version"] == source["version"] == 5
    assert await ok(client.get(f"{API}/scenarios/{sid}/steps")) == switched

    # --- Clone the login case with its datasets.
    login_copy = await ok(client.post(f"{API}/cases/{login['id']}/clone"), 201)
    assert set(login_copy) == CASE_KEYS
    assert login_copy["id"] != login["id"] and login_copy["name"] == "login (copy)"
    assert login_copy["owner_id"] == qa.id and login_copy["version"] == 1 and login_copy["project_id"] == pid
    for field in ("method", "url", "headers", "query", "body", "auth", "extractors", "assertions", "retry"):
        assert login_copy[field] == login[field], field
    assert sorted(login_copy["tags"]) == sorted(login["tags"])
    copied_sets = await ok(client.get(f"{API}/cases/{login_copy['id']}/datasets"))
    assert [(d["name"], d["variables"], d["enabled"], d["position"]) for d in copied_sets] == [
        ("alice", {"username": "alice", "password": "pw-a"}, True, 0),
        ("bob", {"username": "bob", "password": "pw-b"}, True, 1),
    ]
    assert all(d["case_id"] == login_copy["id"] and d["version"] == 1 for d in copied_sets)
    assert not {d["id"] for d in copied_sets} & {alice["id"], bob["id"]}

    # --- Retire the flow: delete the scenario; the clone still holds the login case.
    await ok(client.delete(f"{API}/scenarios/{sid}"), 204)
    assert_error(await client.get(f"{API}/scenarios/{sid}"), 404, "not_found")
    assert_error(await client.get(f"{API}/scenarios/{sid}/steps"), 404, "not_found")
    error = assert_error(await client.delete(f"{API}/cases/{login['id']}"), 409, "case_in_use")
    assert error["details"][0]["scenarios"] == [{"id": clone["id"], "name": "checkout (copy)"}]
    await ok(client.delete(f"{API}/scenarios/{clone['id']}", headers=dev_auth), 204)
    for model in (TestScenarioCase, TestScenarioDataset):
        leftover = select(func.count()).select_from(model).where(model.scenario_id.in_([sid, clone["id"]]))
        assert await db_scalar(session, leftover) == 0, model.__name__

    # Now nothing uses the login case: it goes, and its datasets with it; the copy keeps its own.
    await ok(client.delete(f"{API}/cases/{login['id']}"), 204)
    assert_error(await client.get(f"{API}/cases/{login['id']}"), 404, "not_found")
    for dataset in (alice, bob):
        assert_error(await client.get(f"{API}/datasets/{dataset['id']}"), 404, "not_found")
    gone = select(func.count()).select_from(ApiRequestDataset).where(ApiRequestDataset.case_id == login["id"])
    assert await db_scalar(session, gone) == 0
    assert len(await ok(client.get(f"{API}/cases/{login_copy['id']}/datasets"))) == 2
    remaining = await ok(client.get(f"{API}/cases", params={"project_id": pid}))
    assert sorted(c["id"] for c in remaining["items"]) == sorted([order["id"], wallet["id"], login_copy["id"]])
    assert remaining["total"] == 3
