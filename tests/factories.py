"""Small builders for request bodies and API-created records, so tests read like the behaviour."""

from __future__ import annotations

from typing import Any

import httpx


def case_body(project_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project_id": project_id,
        "name": "login",
        "method": "POST",
        "url": "/login",
        "headers": {"Content-Type": "application/json"},
        "query": {"lang": "en"},
        "body": {"mode": "json", "content": {"username": "{{username}}", "qty": "{{qty}}"}},
        "auth": {"type": "none"},
        "extractors": [{"name": "token", "source": "body", "expression": "$.data.token"}],
        "assertions": [
            {"source": "status_code", "op": "eq", "expected": 200},
            {"source": "body", "expression": "$.code", "op": "eq", "expected": 0},
        ],
        "timeout_ms": 10000,
        "retry": {"max_attempts": 1},
        "status": "active",
        "visibility": "project",
        "run_permission": "members",
        "tags": ["smoke"],
    }
    body.update(overrides)
    return body


async def create(client: httpx.AsyncClient, path: str, body: Any) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def project(client: httpx.AsyncClient, name: str = "shop") -> dict[str, Any]:
    return await create(client, "/api/v1/projects", {"name": name})


async def case(client: httpx.AsyncClient, project_id: int, **overrides: Any) -> dict[str, Any]:
    return await create(client, "/api/v1/cases", case_body(project_id, **overrides))


async def scenario(client: httpx.AsyncClient, project_id: int, **overrides: Any) -> dict[str, Any]:
    return await create(client, "/api/v1/scenarios", {"project_id": project_id, "name": "checkout", **overrides})


async def put_steps(client: httpx.AsyncClient, scenario_id: int, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await client.put(f"/api/v1/scenarios/{scenario_id}/steps", json=steps)
    assert response.status_code == 200, response.text
    return response.json()
