"""Every kind of file an import or `exile run` cannot use gets a clear 4xx (or exit code 2) naming the problem,
and creates nothing: the bad-input list of issue 9, in one place, through the API and the CLI."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import app as cli
from app.models import ApiRequest, Environment, TestScenario
from tests.conftest import assert_error, count_rows
from tests.factories import project

API = "/api/v1"
DANGLING_REF = (
    b'{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"responses": {"200": '
    b'{"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Gone"}}}}}}}}}'
)
BAD_FILES = [
    ("an empty file", "postman", b"", "at $: expected a JSON document, got nothing"),
    ("a JSON that is not a collection", "postman", b'{"hello": "world"}', "at info: expected the collection's"),
    ("a v1 collection", "postman", b'{"id": "c", "name": "v1", "order": [], "requests": []}', "v1 collection"),
    ("a HAR with no entries", "har", b'{"log": {"version": "1.2", "entries": []}}', "at log.entries: expected at"),
    ("an unterminated quote", "curl", b"curl 'https://h/x", "expected shell quoting that closes"),
    ("a dangling $ref", "openapi", DANGLING_REF, "at paths./a.get.responses.200.content.application/json.schema.$ref"),
    ("not UTF-8", "postman", b"\xff\xfe{}", "not UTF-8 text (byte 0"),
    ("a future Exile file", "exile", b"version: 99\nscenario: {name: x}\n", "at version: expected a version this"),
]


async def upload(api: httpx.AsyncClient, project_id: int, kind: str, data: bytes) -> httpx.Response:
    files = {"file": ("upload", data)}
    return await api.post(f"{API}/projects/{project_id}/imports", files=files, data={"kind": kind})


async def nothing_created() -> bool:
    return (await count_rows(ApiRequest), await count_rows(TestScenario), await count_rows(Environment)) == (0, 0, 0)


@pytest.mark.parametrize(("what", "kind", "data", "named"), BAD_FILES, ids=[case[0] for case in BAD_FILES])
async def test_an_unusable_file_is_422_naming_where_and_creates_nothing(api, what, kind, data, named):
    proj = await project(api)
    error = assert_error(await upload(api, proj["id"], kind, data), 422, "file_not_readable")
    assert named in error["message"], (what, error["message"])
    assert error["details"][0]["loc"][:2] == ["body", "file"]
    assert await nothing_created()


async def test_a_50_mb_file_is_refused_by_the_import_size_limit_before_it_is_read(api):
    proj = await project(api)
    big = b'{"info": {"name": "big"}, "item": [], "padding": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    error = assert_error(await upload(api, proj["id"], "postman", big), 413, "body_too_large")
    assert "larger than the" in error["message"]
    assert await nothing_created()


async def test_the_limit_is_the_setting_whatever_the_route_allows(api, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setattr(get_settings(), "max_import_bytes", 2048)
    proj = await project(api)
    collection = b'{"info": {"name": "c", "schema": "v2.1"}, "item": [], "description": "' + b"d" * 4096 + b'"}'
    error = assert_error(await upload(api, proj["id"], "postman", collection), 413, "file_too_large")
    assert "more than the 2048 bytes an import may have (MAX_IMPORT_BYTES)" in error["message"]
    assert await nothing_created()


@pytest.mark.parametrize(("what", "kind", "data", "named"), BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_exile_run_exits_2_naming_the_problem(tmp_path: Path, what, kind, data, named):
    if kind not in ("postman", "exile"):
        pytest.skip("exile run takes Postman collections and Exile files")
    path = tmp_path / ("flow.yaml" if kind == "exile" else "collection.json")
    path.write_bytes(data)
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 2, (what, result.output)
    assert str(path) in result.output and named in result.output.replace("\n", "")


def test_exile_run_refuses_a_file_over_the_import_limit_without_reading_it(tmp_path: Path, monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setattr(get_settings(), "max_import_bytes", 1024)
    path = tmp_path / "collection.json"
    path.write_bytes(b'{"info": {"name": "c"}, "item": [], "x": "' + b"y" * 4096 + b'"}')
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 2
    assert "more than the 1024 bytes an import may have (MAX_IMPORT_BYTES)" in result.output
