"""`exile import KIND FILE --project ID --as EMAIL`: the API's import service from the shell (a real process)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from app.models import ApiRequest
from tests.conftest import count_rows
from tests.factories import project

EXILE = str(Path(sys.executable).parent / "exile")


async def exile(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        EXILE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_a_file_is_imported_as_the_user_and_what_was_not_translated_is_printed(api, tmp_path):
    proj = await project(api)
    line = tmp_path / "request.sh"
    line.write_text("curl -s https://api.example.com/health -H 'Accept: application/json'\n")

    code, out, err = await exile("import", "curl", str(line), "--project", str(proj["id"]), "--as", "qa@example.com")
    assert code == 0, err
    assert out.startswith("created case ") and "'GET /health'" in out
    assert "not translated: argument 1: -s (changes what curl prints, not the request)" in out
    assert await count_rows(ApiRequest) == 1

    code, out, _ = await exile(
        "import", "curl", str(line), "--project", str(proj["id"]), "--as", "qa@example.com", "--dry-run"
    )
    assert code == 0 and out.startswith("would create case - 'GET /health'")
    assert await count_rows(ApiRequest) == 1


async def test_an_unreadable_file_exits_2_and_an_unknown_user_exits_1(api, tmp_path):
    proj = await project(api)
    broken = tmp_path / "broken.sh"
    broken.write_text("curl 'https://h/x\n")
    code, _, err = await exile("import", "curl", str(broken), "--project", str(proj["id"]), "--as", "qa@example.com")
    assert code == 2 and "quoting that closes" in err
    good = tmp_path / "good.sh"
    good.write_text("curl https://h/x")
    code, _, err = await exile("import", "curl", str(good), "--project", str(proj["id"]), "--as", "nobody@example.com")
    assert code == 1 and "no active user" in err
    assert await count_rows(ApiRequest) == 0


async def test_an_openapi_import_keeps_its_document_and_says_its_id(api, tmp_path):
    from app.models import ApiImport
    from tests.ai.test_ai_api import ORDERS_OPENAPI

    proj = await project(api)
    spec = tmp_path / "orders.json"
    spec.write_text(json.dumps(ORDERS_OPENAPI))
    code, out, err = await exile("import", "openapi", str(spec), "--project", str(proj["id"]), "--as", "qa@example.com")
    assert code == 0, err
    [kept] = [line for line in out.splitlines() if line.startswith("kept the document as import ")]
    import_id = int(kept.split()[5])
    generated = await api.post("/api/v1/ai/generate-cases", json={"project_id": proj["id"], "import_id": import_id})
    assert generated.status_code == 201, generated.text
    assert await count_rows(ApiImport) == 1
