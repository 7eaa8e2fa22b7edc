"""POST /projects/{id}/imports: a file becomes cases (and scenarios, environments) through the normal services."""

from __future__ import annotations

import httpx

from app.models import ApiRequest
from tests.conftest import UserFactory, assert_error, bearer, count_rows
from tests.factories import project

API = "/api/v1"
LINE = (
    "curl -X POST 'https://api.example.com/orders?src=docs' -H 'Content-Type: application/json' "
    '-d \'{"sku": "a1"}\' -s'
)


async def upload(
    api: httpx.AsyncClient, project_id: int, data: bytes, kind: str = "curl", **form: str
) -> httpx.Response:
    return await api.post(
        f"{API}/projects/{project_id}/imports", files={"file": ("request.txt", data)}, data={"kind": kind, **form}
    )


async def test_a_curl_line_becomes_a_case_and_the_report_lists_what_was_not_translated(api):
    proj = await project(api)
    response = await upload(api, proj["id"], LINE.encode())
    assert response.status_code == 201, response.text
    report = response.json()
    [created] = report["cases"]
    assert created["id"] and report["dry_run"] is False
    assert [item["source"] for item in report["not_translated"]] == ["-s"]
    case = (await api.get(f"{API}/cases/{created['id']}")).json()
    assert case["project_id"] == proj["id"] and case["method"] == "POST"
    assert case["url"] == "https://api.example.com/orders" and case["query"] == {"src": "docs"}
    assert case["body"] == {"mode": "json", "content": {"sku": "a1"}, "content_type": None}
    audit = (await api.get(f"{API}/audit", params={"project_id": proj["id"], "entity": "case"})).json()
    assert [(entry["action"], entry["entity_id"]) for entry in audit["items"]] == [("create", created["id"])]


async def test_a_dry_run_checks_everything_and_creates_nothing(api):
    proj = await project(api)
    response = await upload(api, proj["id"], LINE.encode(), dry_run="true")
    assert response.status_code == 201, response.text
    assert response.json()["dry_run"] is True and response.json()["cases"][0]["id"] is None
    assert await count_rows(ApiRequest) == 0


async def test_files_that_cannot_be_read_get_422_naming_the_problem_and_create_nothing(api):
    proj = await project(api)
    cases = [
        (b"", "got nothing"),
        (b"curl 'https://h/x", "quoting that closes"),
        (b"\xff\xfecurl https://h/x", "not UTF-8"),
        (b"curl ftp://h/x", "url"),
        (b'{"info": {"name": "not a curl line"}}', "starting with 'curl'"),
    ]
    for data, expected in cases:
        error = assert_error(await upload(api, proj["id"], data), 422, "file_not_readable")
        assert expected in error["message"], (data, error)
    assert_error(await upload(api, proj["id"], LINE.encode(), kind="word"), 422, "validation_error")
    assert await count_rows(ApiRequest) == 0


async def test_only_editors_of_the_project_may_import(api, client: httpx.AsyncClient, make_user: UserFactory):
    proj = await project(api)
    viewer = await make_user(email="viewer@example.com")
    added = await api.post(f"{API}/projects/{proj['id']}/members", json={"email": viewer.email, "role": "viewer"})
    assert added.status_code == 201, added.text
    as_viewer = await client.post(
        f"{API}/projects/{proj['id']}/imports",
        files={"file": ("r.txt", LINE.encode())},
        data={"kind": "curl"},
        headers=bearer(viewer),
    )
    assert_error(as_viewer, 403, "forbidden")
    assert_error(await upload(api, 987654, LINE.encode()), 404)
    assert await count_rows(ApiRequest) == 0
