"""HAR captures become cases and one scenario that replays them with fresh values (issue 9).

The capture is written here the way Chrome saves one (HTTP/2 pseudo-headers, `sec-*`, the page's cookies,
a token from a login answer sent back as `Authorization: Bearer ...`), with its URLs pointing at a local
target that implements the same endpoints; the imported scenario then runs against that target, where
every login issues a new token: the run passes only if the token is extracted and used.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.interop import har
from app.interop.content import UnreadableFile
from app.models import ApiRequest, TestScenario
from tests.conftest import assert_error, count_rows
from tests.factories import project
from tests.runs.conftest import wait_until_finished

API = "/api/v1"
CAPTURED_TOKEN = "tok-captured-7f3a9c21e5"


class Shop:
    """Login issues a new token each time; the other endpoints want it as a bearer token."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.seen: list[tuple[str, str | None]] = []  # (path, token) of each authorized call
        self.received: dict[str, Any] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/login", self.login)
        app.router.add_get("/api/me", self.me)
        app.router.add_post("/api/notes", self.notes)
        app.router.add_post("/api/upload", self.upload)
        return app

    async def login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body != {"username": "amy", "password": "pw-1"}:
            return web.json_response({"error": "bad credentials"}, status=401)
        token = f"tok-{secrets.token_hex(8)}"
        self.issued.append(token)
        return web.json_response({"data": {"token": token, "expires_in": 3600}})

    def authorized(self, request: web.Request) -> bool:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.seen.append((request.path, token))
        return token in self.issued

    async def me(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        self.received["me"] = sorted(request.query.items())
        return web.json_response({"name": "Amy", "id": 7})

    async def notes(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        self.received["notes"] = dict(await request.post())
        return web.json_response({"id": 12}, status=201)

    async def upload(self, request: web.Request) -> web.Response:
        if not self.authorized(request) or not request.content_type.startswith("multipart/"):
            return web.json_response({"error": "unauthorized"}, status=401)
        self.received["upload"] = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        return web.json_response({"stored": True})


@pytest.fixture
async def shop() -> AsyncIterator[tuple[Shop, str]]:
    target = Shop()
    server = TestServer(target.app(), host="127.0.0.1")
    await server.start_server()
    yield target, f"http://127.0.0.1:{server.port}"
    await server.close()


def headers(**named: str) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in named.items()]


def browser_headers(origin: str, method: str, path: str) -> list[dict[str, str]]:
    """What Chrome sends on its own with every request over HTTP/2."""
    return [
        {"name": ":authority", "value": origin.removeprefix("http://")},
        {"name": ":method", "value": method},
        {"name": ":path", "value": path},
        {"name": ":scheme", "value": "http"},
        {"name": "accept", "value": "application/json"},
        {"name": "accept-encoding", "value": "gzip, deflate, br, zstd"},
        {"name": "cookie", "value": "_ga=GA1.1.1234; session_hint=abc"},
        {"name": "sec-ch-ua", "value": '"Chromium";v="131", "Not_A Brand";v="24"'},
        {"name": "sec-fetch-mode", "value": "cors"},
        {"name": "sec-fetch-site", "value": "same-origin"},
        {"name": "user-agent", "value": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0"},
    ]


def entry(
    origin: str,
    method: str,
    path: str,
    extra_headers: list[dict[str, str]] | None = None,
    post: dict[str, Any] | None = None,
    status: int = 200,
    answer: Any = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": method,
        "url": origin + path,
        "httpVersion": "h2",
        "headers": browser_headers(origin, method, path) + (extra_headers or []),
        "queryString": [],
        "cookies": [{"name": "_ga", "value": "GA1.1.1234"}],
        "headersSize": -1,
        "bodySize": 0,
    }
    if post is not None:
        request["postData"] = post
    text = json.dumps(answer) if answer is not None else ""
    return {
        "pageref": "page_1",
        "startedDateTime": "2026-12-01T10:00:00.000Z",
        "time": 12.5,
        "request": request,
        "response": {
            "status": status,
            "statusText": "",
            "httpVersion": "h2",
            "headers": headers(**{"content-type": "application/json"}),
            "cookies": [],
            "content": {"size": len(text), "mimeType": "application/json", "text": text},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": len(text),
        },
        "cache": {},
        "timings": {"send": 0.1, "wait": 10, "receive": 0.4},
    }


def capture(origin: str) -> dict[str, Any]:
    """Log in, read the profile, add a note (a form), upload a file with a title."""
    bearer = headers(authorization=f"Bearer {CAPTURED_TOKEN}")
    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [{"id": "page_1", "title": "Shop: my account", "startedDateTime": "2026-12-01T10:00:00.000Z"}],
            "entries": [
                entry(
                    origin,
                    "POST",
                    "/api/login",
                    headers(**{"content-type": "application/json", "content-length": "37", "origin": origin}),
                    {"mimeType": "application/json", "text": '{"username": "amy", "password": "pw-1"}'},
                    answer={"data": {"token": CAPTURED_TOKEN, "expires_in": 3600}},
                ),
                entry(origin, "GET", "/api/me?view=full&tag=a&tag=b", bearer, answer={"name": "Amy", "id": 7}),
                entry(
                    origin,
                    "POST",
                    "/api/notes",
                    bearer + headers(**{"content-type": "application/x-www-form-urlencoded"}),
                    {
                        "mimeType": "application/x-www-form-urlencoded",
                        "text": "title=Groceries&text=milk+%26+eggs",
                        "params": [{"name": "title", "value": "Groceries"}, {"name": "text", "value": "milk+%26+eggs"}],
                    },
                    status=201,
                    answer={"id": 12},
                ),
                entry(
                    origin,
                    "POST",
                    "/api/upload",
                    bearer + headers(**{"content-type": f"multipart/form-data; boundary={boundary}"}),
                    {
                        "mimeType": f"multipart/form-data; boundary={boundary}",
                        "params": [
                            {"name": "title", "value": "receipts"},
                            {"name": "file", "fileName": "receipts.csv", "contentType": "text/csv"},
                        ],
                    },
                    answer={"stored": True},
                ),
            ],
        }
    }


def test_each_entry_becomes_a_case_without_the_headers_the_browser_adds():
    origin = "http://127.0.0.1:8080"
    content = har.parse(json.dumps(capture(origin)))
    assert content.kind == "har"
    login, me, notes, upload = content.cases
    assert [(c.name, c.method, c.url) for c in content.cases] == [
        ("POST /api/login", "POST", f"{origin}/api/login"),
        ("GET /api/me", "GET", f"{origin}/api/me"),
        ("POST /api/notes", "POST", f"{origin}/api/notes"),
        ("POST /api/upload", "POST", f"{origin}/api/upload"),
    ]
    assert me.query == {"view": "full", "tag": ["a", "b"]}  # a repeated key is a list
    kept = {"accept": "application/json", "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0"}
    assert login.headers == kept | {"origin": origin}  # Content-Type is the body's now
    assert login.body.model_dump() == {
        "mode": "json",
        "content": {"username": "amy", "password": "pw-1"},
        "content_type": None,
    }
    assert notes.body.model_dump() == {
        "mode": "urlencoded",
        "content": {"title": "Groceries", "text": "milk & eggs"},
        "content_type": None,
    }
    assert upload.body.model_dump() == {"mode": "form", "content": {"title": "receipts"}, "content_type": None}
    assert [a.model_dump(exclude_none=True) for a in notes.assertions] == [
        {"source": "status_code", "op": "eq", "expected": 201}
    ]
    [scenario] = content.scenarios
    assert (scenario.key, scenario.name) == ("har", "Shop: my account")
    assert [step.case for step in scenario.steps] == [case.key for case in content.cases]


def test_a_token_from_a_login_answer_becomes_an_extractor_and_a_variable_where_it_is_sent_back():
    content = har.parse(json.dumps(capture("http://127.0.0.1:8080")))
    login, me, notes, upload = content.cases
    assert [e.model_dump() for e in login.extractors] == [
        {"name": "token", "source": "body", "expression": "$.data.token"}
    ]
    for case in (me, notes, upload):
        assert case.headers["authorization"] == "Bearer {{token}}"
        assert case.extractors == []
    dumped = json.dumps([case.model_dump() for case in content.cases])
    assert CAPTURED_TOKEN not in dumped


def test_each_kind_of_left_out_header_is_reported_once_and_so_is_a_file_field():
    content = har.parse(json.dumps(capture("http://127.0.0.1:8080")))
    items = {(item.location, item.source): item.reason for item in content.not_translated}
    assert list(items) == [
        ("log.entries[3].request.postData.params[1]", "file=receipts.csv"),
        ("log.entries[0].request.headers[6]", "cookie"),
        ("log.entries[0].request.headers[0]", ":authority, :method, :path, :scheme"),
        ("log.entries[0].request.headers[7]", "sec-ch-ua, sec-fetch-mode, sec-fetch-site"),
        ("log.entries[0].request.headers[5]", "accept-encoding, content-length"),
    ]
    reasons = list(items.values())
    assert "file field" in reasons[0]
    assert reasons[1].startswith("the capture's cookies left out of every case (4 in 4 entries; this one item")
    assert reasons[2].startswith("HTTP/2 pseudo-headers left out of every case (16 in 4 entries")
    assert reasons[3].startswith("sec-* headers left out of every case (12 in 4 entries")
    assert reasons[4].startswith("transport headers left out of every case (5 in 4 entries")


def test_values_are_correlated_in_query_body_and_path_but_not_short_ones_or_ones_the_client_sent_first():
    origin = "http://127.0.0.1:8080"
    order_id = "ord-20261201-0042"
    document = {
        "log": {
            "entries": [
                entry(
                    origin,
                    "POST",
                    "/orders",
                    post={"mimeType": "application/json", "text": '{"email": "amy.tester@example.com", "qty": 2}'},
                    answer={"order": {"id": order_id, "n": 12345678, "qty": 2, "email": "amy.tester@example.com"}},
                ),
                entry(
                    origin,
                    "GET",
                    f"/orders/{order_id}?ref={order_id}&qty=2",
                    answer=[{"odd key": "session-0123456789"}],
                ),
                entry(
                    origin,
                    "PUT",
                    f"/orders/{order_id}/pay",
                    headers(**{"x-session": "session-0123456789", "x-trace": f"t/{order_id}9"}),
                    post={
                        "mimeType": "application/json",
                        "text": json.dumps(
                            {"order": order_id, "n": 12345678, "qty": 2, "email": "amy.tester@example.com"}
                        ),
                    },
                ),
            ]
        }
    }
    create, read, pay = har.parse(json.dumps(document)).cases
    assert [e.model_dump() for e in create.extractors] == [
        {"name": "id", "source": "body", "expression": "$.order.id"},
        {"name": "n", "source": "body", "expression": "$.order.n"},
    ]
    assert [e.model_dump() for e in read.extractors] == [
        {"name": "odd_key", "source": "body", "expression": '$[0]["odd key"]'}
    ]
    assert read.url == f"{origin}/orders/{{{{id}}}}" and read.query == {"ref": "{{id}}", "qty": "2"}
    assert pay.url == f"{origin}/orders/{{{{id}}}}/pay" and pay.headers["x-session"] == "{{odd_key}}"
    assert pay.headers["x-trace"] == f"t/{order_id}9"  # inside a longer word: not the same value
    # a whole number keeps its type through "{{n}}"; the e-mail came from the client, 2 is too short to match
    assert pay.body.content == {"order": "{{id}}", "n": "{{n}}", "qty": 2, "email": "amy.tester@example.com"}
    assert har.parse(json.dumps(document)).scenarios[0].name == "HAR capture of 127.0.0.1:8080"  # no page title


def test_a_base64_answer_is_read_and_a_redirect_is_not_followed():
    origin = "http://127.0.0.1:8080"
    login = entry(origin, "POST", "/login", status=302)
    answer = json.dumps({"session": "sess-abcdef123456"}).encode()
    login["response"]["content"] = {
        "mimeType": "application/json",
        "encoding": "base64",
        "text": base64.b64encode(answer).decode(),
    }
    after = entry(origin, "GET", "/home?s=sess-abcdef123456")
    socket = entry(origin, "GET", "/ws")
    socket["request"]["url"] = "ws://127.0.0.1:8080/ws"
    content = har.parse(json.dumps({"log": {"entries": [login, after, socket]}}))
    first, second = content.cases
    assert first.follow_redirects is False and second.follow_redirects is True
    assert first.extractors[0].expression == "$.session" and second.query == {"s": "{{session}}"}
    assert ("log.entries[2].request.url", "ws://127.0.0.1:8080/ws") in [
        (item.location, item.source) for item in content.not_translated
    ]


def test_chrome_multipart_text_is_read_and_other_bodies_are_sent_as_they_were():
    origin = "http://127.0.0.1:8080"
    boundary = "----WebKitFormBoundaryABC"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nmy notes\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="doc"; filename="a.pdf"\r\n'
        f"Content-Type: application/pdf\r\n\r\n\r\n--{boundary}--\r\n"
    )
    xml = "<order><id>1</id></order>"
    entries = [
        entry(origin, "POST", "/up", post={"mimeType": f"multipart/form-data; boundary={boundary}", "text": multipart}),
        entry(origin, "POST", "/xml", post={"mimeType": "application/xml", "text": xml}),
        entry(origin, "POST", "/broken-json", post={"mimeType": "application/json", "text": "{not json"}),
        entry(origin, "POST", "/binary", post={"mimeType": "application/octet-stream"}),
        entry(origin, "PROPFIND", "/dav"),
    ]
    content = har.parse(json.dumps({"log": {"entries": entries}}))
    bodies = [case.body.model_dump() for case in content.cases]
    assert bodies == [
        {"mode": "form", "content": {"title": "my notes"}, "content_type": None},
        {"mode": "raw", "content": xml, "content_type": "application/xml"},
        {"mode": "raw", "content": "{not json", "content_type": "application/json"},
        {"mode": "none", "content": None, "content_type": None},
    ]
    skipped = [(item.location, item.source) for item in content.not_translated][:3]
    assert skipped == [
        ("log.entries[0].request.postData.text (part 2)", "doc=a.pdf"),
        ("log.entries[3].request.postData", "application/octet-stream"),
        ("log.entries[4].request.method", "PROPFIND"),
    ]
    assert len(content.scenarios[0].steps) == 4


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ("not json at all", "document"),
        ('["a list"]', "log"),
        ('{"version": "1.2"}', "log"),
        ('{"log": {"version": "1.2"}}', "log.entries"),
        ('{"log": {"entries": []}}', "log.entries"),
        ('{"log": {"entries": [{"response": {}}]}}', "log.entries[0].request"),
    ],
)
def test_a_file_that_is_not_a_har_with_entries_cannot_be_read(document: str, where: str):
    with pytest.raises(UnreadableFile) as raised:
        har.parse(document)
    assert raised.value.where == where


async def upload(api: httpx.AsyncClient, project_id: int, data: bytes) -> httpx.Response:
    return await api.post(
        f"{API}/projects/{project_id}/imports", files={"file": ("shop.har", data)}, data={"kind": "har"}
    )


async def test_an_imported_capture_runs_green_with_the_token_extracted_and_used(api, shop):
    target, origin = shop
    proj = await project(api)
    response = await upload(api, proj["id"], json.dumps(capture(origin)).encode())
    assert response.status_code == 201, response.text
    report = response.json()
    assert [c["name"] for c in report["cases"]] == [
        "POST /api/login",
        "GET /api/me",
        "POST /api/notes",
        "POST /api/upload",
    ]
    [scenario] = report["scenarios"]
    assert len(report["not_translated"]) == 5
    started = await api.post(f"{API}/scenarios/{scenario['id']}/runs", json={})
    assert started.status_code in (201, 202), started.text
    run = await wait_until_finished(api, started.json()["id"])
    assert run["status"] == "passed", run
    assert run["requests"]["passed"] == 4
    [token] = target.issued
    assert token != CAPTURED_TOKEN
    assert target.seen == [("/api/me", token), ("/api/notes", token), ("/api/upload", token)]
    assert target.received == {
        "me": [("tag", "a"), ("tag", "b"), ("view", "full")],
        "notes": {"title": "Groceries", "text": "milk & eggs"},
        "upload": {"title": "receipts"},
    }
    records = (await api.get(f"{API}/scenario-runs/{run['id']}/request-runs")).json()
    assert records["items"][0]["extracted"] == {"token": token}


async def test_a_har_that_cannot_be_read_is_a_422_naming_where_and_creates_nothing(api, shop):
    _, origin = shop
    proj = await project(api)
    no_url = capture(origin)
    del no_url["log"]["entries"][3]["request"]["url"]
    bad = [
        (b"{not json", "document"),
        (b'{"version": "1.2"}', "at log:"),
        (b'{"log": {"creator": {}}}', "at log.entries:"),
        (b'{"log": {"entries": []}}', "at least one entry"),
        (json.dumps(no_url).encode(), "at log.entries[3].request.url:"),
    ]
    for data, expected in bad:
        error = assert_error(await upload(api, proj["id"], data), 422, "file_not_readable")
        assert expected in error["message"], (data, error)
    assert await count_rows(ApiRequest) == 0 and await count_rows(TestScenario) == 0
