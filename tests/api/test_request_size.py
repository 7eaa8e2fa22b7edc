"""Request bodies are bounded (413 `body_too_large`, counted on the raw stream), and the audit trail keeps
large values by size and sha256 instead of another full copy.

Before: a 30 MB case body and a 30 MB dataset were stored, the audit trail held another copy (GET /audit
returned 31 MB), and on MariaDB a body over `max_allowed_packet` answered 503.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request

from app.audit.service import ENTRY_LIMIT, VALUE_LIMIT, bounded, fit
from app.core.body_limit import BodyLimitMiddleware, BodyTooLarge, body_too_large_handler
from app.core.config import get_settings
from app.core.errors import install_error_handlers
from app.models import ApiRequest, Project
from tests import factories
from tests.conftest import assert_error, count_rows

API = "/api/v1"
LIMIT = get_settings().max_request_bytes
CHUNK = 64 * 1024


def case_with_body(project_id: int, content: Any) -> dict[str, Any]:
    return factories.case_body(project_id, body={"mode": "json", "content": content})


def assert_too_large(response: httpx.Response) -> dict[str, Any]:
    error = assert_error(response, 413, "body_too_large")
    assert str(LIMIT) in error["message"] and "bytes" in error["message"], error
    assert error["details"][0]["loc"] == ["body"] and error["details"][0]["limit"] == LIMIT
    return error


async def test_the_default_limit_is_5_mib() -> None:
    assert LIMIT == 5 * 1024 * 1024


async def test_a_case_body_over_the_limit_is_refused_before_it_is_read(api: httpx.AsyncClient) -> None:
    project = await factories.project(api)
    body = json.dumps(case_with_body(project["id"], "x" * (LIMIT + 1))).encode()
    response = await api.post(f"{API}/cases", content=body, headers={"Content-Type": "application/json"})
    error = assert_too_large(response)
    assert error["details"][0]["size"] == len(body)  # refused on its Content-Length
    assert await count_rows(ApiRequest) == 0


async def test_a_chunked_body_without_content_length_is_cut_off_once_past_the_limit(api: httpx.AsyncClient) -> None:
    project = await factories.project(api)
    body = json.dumps(case_with_body(project["id"], "x" * (3 * LIMIT))).encode()
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for start in range(0, len(body), CHUNK):
            sent += CHUNK
            yield body[start : start + CHUNK]

    response = await api.post(f"{API}/cases", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_too_large(response)
    assert sent <= LIMIT + 2 * CHUNK  # it stopped reading: never more than the limit held
    assert await count_rows(ApiRequest) == 0


async def test_a_declared_oversized_body_is_refused_before_a_route_that_ignores_bodies_runs(
    api: httpx.AsyncClient,
) -> None:
    """FastAPI's own limit would run the DELETE, then swap its answer for a 413: the project would be gone."""
    project = await factories.project(api)
    response = await api.request("DELETE", f"{API}/projects/{project['id']}", content=b"x" * (LIMIT + 1))
    assert_too_large(response)
    assert await count_rows(Project) == 1


async def test_a_body_just_under_the_limit_is_stored_on_every_database(api: httpx.AsyncClient) -> None:
    """The worst case for MariaDB's max_allowed_packet (16 MiB here): quotes and backslashes, which the JSON
    column and the statement each escape again. At 5 MiB of body it fits; before the limit, 20 MB got 503."""
    project = await factories.project(api)
    frame = len(json.dumps(case_with_body(project["id"], "")).encode())
    content = '\\"' * ((LIMIT - frame - 64) // 4)  # each character is escaped to two bytes in the request
    body = json.dumps(case_with_body(project["id"], content)).encode()
    assert LIMIT - 1024 < len(body) <= LIMIT
    created = await api.post(f"{API}/cases", content=body, headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text[:500]
    read = await api.get(f"{API}/cases/{created.json()['id']}")
    assert read.json()["body"]["content"] == content

    entries = (await api.get(f"{API}/audit", params={"entity": "case"})).json()["items"]
    kept = entries[0]["changes"]["after"]["body"]
    assert kept["mode"] == "json"
    text = orjson.dumps(content)
    assert kept["content"] == {"omitted": True, "size": len(text), "sha256": hashlib.sha256(text).hexdigest()}


async def test_a_large_dataset_is_audited_by_size_and_hash_and_the_trail_stays_small(api: httpx.AsyncClient) -> None:
    project = await factories.project(api)
    case = await factories.case(api, project["id"])
    variables = {f"name_{number}": "v" * 100 for number in range(10_000)}  # about 1.2 MB
    created = await api.post(f"{API}/cases/{case['id']}/datasets", json={"name": "big", "variables": variables})
    assert created.status_code == 201, created.text[:500]

    trail = await api.get(f"{API}/audit", params={"project_id": project["id"], "page_size": 200})
    assert trail.status_code == 200
    assert len(trail.content) < 20_000, len(trail.content)  # was over 1 MB: the whole dataset again
    [entry] = [e for e in trail.json()["items"] if e["entity"] == "dataset"]
    text = orjson.dumps(variables)
    assert entry["changes"]["after"]["variables"] == {
        "omitted": True,
        "size": len(text),
        "sha256": hashlib.sha256(text).hexdigest(),
    }
    assert entry["changes"]["after"]["name"] == "big"  # small fields stay as written

    # A change shows which field changed, by hash on both sides; an unchanged large field is not listed.
    dataset = created.json()
    patched = await api.patch(
        f"{API}/datasets/{dataset['id']}",
        json={"version": dataset["version"], "variables": {"name_0": "changed"}, "name": "bigger"},
    )
    assert patched.status_code == 200, patched.text[:500]
    trail = (await api.get(f"{API}/audit", params={"entity": "dataset", "action": "update"})).json()["items"]
    changes = trail[0]["changes"]
    assert set(changes["before"]) == {"name", "variables"}
    assert changes["before"]["variables"]["sha256"] == hashlib.sha256(text).hexdigest()
    assert changes["after"]["variables"]["omitted"] is True
    assert changes["after"]["variables"]["sha256"] != changes["before"]["variables"]["sha256"]
    assert changes["after"]["name"] == "bigger"


def test_the_trail_keeps_small_values_and_the_parts_of_a_large_list_and_hashes_the_rest() -> None:
    steps = [{"position": n, "case_id": n, "enabled": True, "name": f"step {n}"} for n in range(120)]
    assert len(orjson.dumps(steps)) > VALUE_LIMIT
    changes = {"before": {"steps": steps, "name": "a"}, "after": {"steps": steps[:1], "text": "é" * VALUE_LIMIT}}
    kept = bounded(changes)
    assert kept["before"] == {"steps": steps, "name": "a"}  # a long list of small steps still reads step by step
    assert kept["after"]["steps"] == steps[:1]
    text = orjson.dumps("é" * VALUE_LIMIT)
    assert kept["after"]["text"] == {"omitted": True, "size": len(text), "sha256": hashlib.sha256(text).hexdigest()}
    assert changes["after"]["text"] == "é" * VALUE_LIMIT  # the caller's values are not changed

    many = {"after": {f"field_{n}": ["x" * 100] * 30 for n in range(40)}}  # each part fits; together 120 KB
    assert len(orjson.dumps(bounded(many))) > ENTRY_LIMIT
    assert len(orjson.dumps(fit(bounded(many)))) <= ENTRY_LIMIT


async def test_a_route_can_allow_a_larger_body_with_fastapis_max_body_size() -> None:
    """The hook for later imports: `max_body_size=` on the route raises the limit for that route only."""
    small = FastAPI()
    install_error_handlers(small)
    small.add_exception_handler(BodyTooLarge, body_too_large_handler)
    small.add_middleware(BodyLimitMiddleware, max_bytes=lambda: 1024, routes=lambda: small.routes)

    @small.post("/imports", max_body_size=4096)
    async def imports(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @small.post("/cases")
    async def cases(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small), base_url="http://t") as http:
        assert (await http.post("/imports", content=b"x" * 3000)).json() == {"size": 3000}
        assert_error(await http.post("/imports", content=b"x" * 5000), 413, "body_too_large")
        assert_error(await http.post("/cases", content=b"x" * 3000), 413, "body_too_large")
