"""generate-cases by import_id: an applied OpenAPI import keeps its document, and generation reads it from there,
giving what the document sent inline gives. Only OpenAPI documents are kept (collections carry credentials)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from app.models import ApiImport
from tests.ai.test_ai_api import ORDERS_OPENAPI
from tests.conftest import assert_error, bearer, count_rows
from tests.factories import project

API = "/api/v1"


async def _import(api: httpx.AsyncClient, project_id: int, kind: str, text: str, **form: str) -> httpx.Response:
    files = {"file": (f"spec.{kind}", text.encode())}
    return await api.post(f"{API}/projects/{project_id}/imports", files=files, data={"kind": kind, **form})


def _cases(answer: dict[str, Any]) -> list[dict[str, Any]]:
    [proposal] = answer["proposals"]
    return list(proposal["payload"]["content"]["cases"])


async def test_an_openapi_import_is_named_by_its_id_and_generates_what_the_document_does(
    api: httpx.AsyncClient,
) -> None:
    owner = await project(api)
    document = json.dumps(ORDERS_OPENAPI)
    dry = await _import(api, owner["id"], "openapi", document, dry_run="true")
    assert dry.status_code == 201, dry.text
    assert dry.json()["import_id"] is None and await count_rows(ApiImport) == 0
    imported = await _import(api, owner["id"], "openapi", document)
    assert imported.status_code == 201, imported.text
    import_id = imported.json()["import_id"]
    assert isinstance(import_id, int) and await count_rows(ApiImport) == 1

    by_id = await api.post(f"{API}/ai/generate-cases", json={"project_id": owner["id"], "import_id": import_id})
    inline = await api.post(f"{API}/ai/generate-cases", json={"project_id": owner["id"], "openapi": ORDERS_OPENAPI})
    assert by_id.status_code == inline.status_code == 201, by_id.text
    assert _cases(by_id.json()) == _cases(inline.json()) and _cases(by_id.json())


async def test_import_id_is_checked_like_any_other_reference(
    api: httpx.AsyncClient, client: httpx.AsyncClient, make_user: Any
) -> None:
    mine, theirs = await project(api), await project(api)
    imported = await _import(api, theirs["id"], "openapi", json.dumps(ORDERS_OPENAPI))
    import_id = imported.json()["import_id"]
    # Another project's import, an unknown one: 404 naming import_id.
    for wrong in (import_id, 999_999):
        refused = await api.post(f"{API}/ai/generate-cases", json={"project_id": mine["id"], "import_id": wrong})
        error = assert_error(refused, 404)
        assert "import_id" in error["message"]
    # Both or neither: 422.
    both = {"project_id": mine["id"], "import_id": import_id, "openapi": ORDERS_OPENAPI}
    for body in (both, {"project_id": mine["id"]}):
        error = assert_error(await api.post(f"{API}/ai/generate-cases", json=body), 422)
        assert "openapi or import_id" in str(error)
    # Someone outside the project cannot read it through its id.
    outsider = await make_user("outsider@example.com")
    client.headers.update(bearer(outsider))
    hidden = await client.post(f"{API}/ai/generate-cases", json={"project_id": theirs["id"], "import_id": import_id})
    assert hidden.status_code in (403, 404)


async def test_collections_are_not_kept(api: httpx.AsyncClient) -> None:
    owner = await project(api)
    curl = "curl -H 'Authorization: Bearer abc.def.ghi' https://shop.example.com/orders"
    imported = await _import(api, owner["id"], "curl", curl)
    assert imported.status_code == 201, imported.text
    assert imported.json()["import_id"] is None and await count_rows(ApiImport) == 0
