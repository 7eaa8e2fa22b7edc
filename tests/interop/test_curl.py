"""cURL lines become cases that send what curl itself sends (issue 9).

Each line is run twice against the same local target: by the real `curl` binary, and as the case the
reader made, through the engine. The target records what arrived; both must match.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.engine.results import ListSink
from app.engine.runner import run_flow
from app.engine.specs import CaseSpec, EnvironmentSpec, FlowSpec, RequestSpec, RunOptions, StepSpec
from app.engine.transport import AiohttpTransport
from app.interop import curl
from app.interop.content import UnreadableFile
from app.runs.loader import REQUEST_FIELDS


class Recorder:
    def __init__(self) -> None:
        self.arrived: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body: Any
        if request.content_type.startswith("multipart/") or request.content_type.endswith("urlencoded"):
            body = sorted((await request.post()).items())  # multipart is read from the stream: not read() first
        elif request.content_type == "application/json":
            body = orjson.loads(await request.read())
        else:
            body = (await request.read()).decode()
        self.arrived.append(
            {
                "method": request.method,
                "path": request.path,
                "query": sorted(request.query.items()),
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "content_type": request.content_type,
                "body": body,
            }
        )
        return web.json_response({"ok": True})


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield recorder, f"http://127.0.0.1:{server.port}"
    await server.close()


async def sent_by_curl(line: str) -> None:
    process = await asyncio.create_subprocess_shell(
        line + " -s -o /dev/null", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 0, err


async def sent_by_the_case(line: str) -> None:
    content = curl.parse(line)
    [case] = content.cases
    request = RequestSpec.model_validate(case.model_dump(include=set(REQUEST_FIELDS)))
    flow = FlowSpec(
        steps=[StepSpec(case=CaseSpec(id=1, name=case.name, request=request))], environment=EnvironmentSpec()
    )
    transport = AiohttpTransport()
    try:
        outcome = await run_flow(flow, RunOptions(), transport, ListSink())
    finally:
        await transport.close()
    assert outcome.requests.passed == 1, outcome


HEADERS_COMPARED = ("accept", "x-trace", "authorization", "referer", "cookie", "user-agent")

LINES = [
    "curl '{url}/things?a=1&a=2&b=' -H 'Accept: application/json' -H 'X-Trace: abc' --compressed",
    """curl -X POST {url}/things -H 'Content-Type: application/json' --data-raw '{{"name": "x", "n": [1, 2]}}'""",
    "curl {url}/login -d user=amy -d 'pass=a b&c'",
    "curl -u amy:secret-pw -A exile-test/1 -e https://example.org/ -b 'sid=42' {url}/me",
    "curl -G {url}/search --data-urlencode 'q=hello world & more' -d page=2",
    "curl {url}/upload -F name=amy -F 'note=hi there'",
    "curl -X PUT {url}/raw -H 'Content-Type: text/plain' -d 'just text'",
    "curl '{url}/multi' \\\n  -H 'X-Trace: continued' \\\n  --data-raw 'a=1'",
]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary to compare with")
@pytest.mark.parametrize("template", LINES)
async def test_the_case_sends_what_curl_sends(recorder: tuple[Recorder, str], template: str):
    target, url = recorder
    line = template.format(url=url)
    await sent_by_curl(line)
    await sent_by_the_case(line)
    by_curl, by_case = target.arrived
    for field in ("method", "path", "query", "content_type", "body"):
        assert by_case[field] == by_curl[field], (field, by_case[field], by_curl[field])
    for header in HEADERS_COMPARED:
        if header == "user-agent" and "-A" not in line:
            continue  # curl names itself; a case names Exile
        assert by_case["headers"].get(header) == by_curl["headers"].get(header), header


def test_options_that_change_nothing_in_the_request_are_listed_not_dropped():
    content = curl.parse("curl -s -v -o out.json -w '%{http_code}' -k https://api.example.com/x")
    assert [item.source for item in content.not_translated] == ["-s", "-v", "-o out.json", "-w %{http_code}", "-k"]
    assert "verify_tls" in content.not_translated[-1].reason
    assert content.cases[0].url == "https://api.example.com/x" and content.cases[0].method == "GET"


def test_a_file_field_is_reported_and_the_text_fields_kept():
    content = curl.parse("curl https://h/upload -F name=amy -F file=@photo.jpg")
    assert content.cases[0].body.content == {"name": "amy"}
    assert [(i.location, i.source) for i in content.not_translated] == [("argument 4", "-F file=@photo.jpg")]


@pytest.mark.parametrize(
    ("line", "where", "expected"),
    [
        ("", "command", "got nothing"),
        ("curl 'https://h/x -H 'A: b'", "command", "quoting that closes"),
        ("wget https://h/x", "argument 0", "starting with 'curl'"),
        ("curl -H", "argument 1", "a value after -H"),
        ("curl -H 'no colon' https://h/x", "argument 1", "'Name: value'"),
        ("curl --frobnicate https://h/x", "argument 1", "'--frobnicate'"),
        ("curl -X POST", "command", "a URL"),
        ("curl https://h/a https://h/b", "argument 2", "a second one"),
    ],
)
def test_a_line_that_cannot_be_read_names_the_problem(line: str, where: str, expected: str):
    with pytest.raises(UnreadableFile) as caught:
        curl.parse(line)
    assert caught.value.where == where and expected in caught.value.expected
