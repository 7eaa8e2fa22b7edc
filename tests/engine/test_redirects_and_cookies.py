"""Redirects, cookies, URL encoding and the expression/JSONPath rough edges (issue 7 items 7, 8 and 25).

A recording target of our own on 127.0.0.1 sees the raw path and query string the engine sent, the cookies it
sent, and can answer redirects and any Set-Cookie header; a second one, reached as `localhost`, plays another
origin (an attacker's host).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from app.engine.masking import MASK
from app.engine.results import ListSink
from app.engine.runner import run_flow
from app.engine.specs import RunOptions
from tests.engine.conftest import CLIENTS, Engine, rows, step


@dataclass
class Seen:
    method: str
    raw_path: str
    query_string: str
    query: dict[str, str]
    headers: dict[str, str]
    cookies: dict[str, str]
    body: str


@dataclass
class Recorder:
    """Records every request; /to redirects anywhere, /set answers the Set-Cookie headers it is given."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    client: str = "http1"  # the transport `run` sends with (the `recorder` fixture sets it)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/to", self.to)
        app.router.add_get("/set", self.set)
        app.router.add_get("/hop/{n}", self.hop)
        app.router.add_get("/loop", self.loop)
        app.router.add_route("*", "/{tail:.*}", self.record)
        return app

    async def _note(self, request: web.Request) -> Seen:
        seen = Seen(
            method=request.method,
            raw_path=request.raw_path.split("?", 1)[0],
            query_string=request.raw_path.partition("?")[2],  # as sent (aiohttp's query_string is decoded)
            query=dict(request.query),
            headers=dict(request.headers),
            cookies=dict(request.cookies),
            body=(await request.read()).decode(errors="replace"),
        )
        self.seen.append(seen)
        return seen

    async def record(self, request: web.Request) -> web.Response:
        seen = await self._note(request)
        return web.json_response(seen.__dict__)

    async def to(self, request: web.Request) -> web.Response:
        """A redirect with the status and Location asked for (and the Set-Cookie headers in `c`)."""
        await self._note(request)
        headers = CIMultiDict([("Location", request.query["url"])])
        for value in request.query.getall("c", []):
            headers.add("Set-Cookie", value)
        return web.Response(status=int(request.query.get("status", "302")), headers=headers)

    async def set(self, request: web.Request) -> web.Response:
        seen = await self._note(request)
        headers = CIMultiDict([("Set-Cookie", value) for value in request.query.getall("c", [])])
        return web.json_response(seen.__dict__, headers=headers)

    async def hop(self, request: web.Request) -> web.Response:
        """/hop/2 -> /hop/1 -> /hop/0 (200), each hop setting a cookie of its own."""
        seen = await self._note(request)
        n = int(request.match_info["n"])
        if n == 0:
            return web.json_response(seen.__dict__)
        headers = CIMultiDict([("Location", f"/hop/{n - 1}"), ("Set-Cookie", f"hop{n}=from-hop-{n}; Path=/")])
        return web.Response(status=302, headers=headers)

    async def loop(self, request: web.Request) -> web.Response:
        await self._note(request)
        return web.Response(status=302, headers={"Location": "/loop"})

    def paths(self) -> list[str]:
        return [seen.raw_path for seen in self.seen]


async def _serve(host: str, url_host: str) -> AsyncIterator[Recorder]:
    recorder = Recorder()
    server = TestServer(recorder.app(), host=host, port=0)
    await server.start_server()
    recorder.url = f"http://{url_host}:{server.port}"
    yield recorder
    await server.close()


@pytest.fixture(scope="module")
async def recorder_server() -> AsyncIterator[Recorder]:
    async for recorder in _serve("127.0.0.1", "127.0.0.1"):
        yield recorder


@pytest.fixture(scope="module")
async def other_server() -> AsyncIterator[Recorder]:
    """Another origin: another port, and another host name (`localhost`) for the cookie rules."""
    async for recorder in _serve("127.0.0.1", "localhost"):
        yield recorder


@pytest.fixture(params=list(CLIENTS))
def recorder(recorder_server: Recorder, request: pytest.FixtureRequest) -> Recorder:
    recorder_server.seen.clear()
    recorder_server.client = request.param  # which transport `run` uses: every test runs on both
    return recorder_server


@pytest.fixture
def other(other_server: Recorder) -> Recorder:
    other_server.seen.clear()
    return other_server


async def run(recorder: Recorder, *steps: Any, environment: dict[str, Any] | None = None, **flow: Any) -> Any:
    from app.engine.specs import EnvironmentSpec, FlowSpec
    from tests.engine.conftest import Run

    options = flow.pop("options", None) or RunOptions(stop_on_failure=False)
    env = EnvironmentSpec(base_url=recorder.url, **(environment or {}))
    sink = ListSink()
    transport = CLIENTS[recorder.client]()
    try:
        outcome = await run_flow(FlowSpec(steps=list(steps), environment=env, **flow), options, transport, sink)
    finally:
        await transport.close()
    return Run(outcome, sink.results)


# ---- item 25: redirects ----------------------------------------------------------------------------
async def test_follow_redirects_false_lets_a_302_and_its_location_be_asserted(recorder: Recorder):
    result = (
        await run(
            recorder,
            step(
                "no follow",
                url="/to?url=/landing",
                follow_redirects=False,
                assertions=[
                    {"source": "status_code", "expected": 302},
                    {"source": "header", "expression": "location", "expected": "/landing"},
                ],
            ),
        )
    ).one()
    assert result.status == "passed", result.assertions
    assert recorder.paths() == ["/to"]  # the Location was not followed
    assert result.response is not None and result.response["status"] == 302
    assert result.response["redirects"] == []


async def test_followed_redirects_are_recorded_hop_by_hop_with_the_cookies_they_set(recorder: Recorder):
    outcome = await run(
        recorder,
        step("login by redirects", url="/hop/2"),
        step("later", url="/after"),
    )
    first = outcome.one("step:0")
    assert first.status == "passed" and first.response is not None
    assert first.response["status"] == 200 and first.response["url"] == f"{recorder.url}/hop/0"
    assert first.response["redirects"] == [
        {"status": 302, "url": f"{recorder.url}/hop/2", "location": "/hop/1"},
        {"status": 302, "url": f"{recorder.url}/hop/1", "location": "/hop/0"},
    ]
    assert recorder.paths() == ["/hop/2", "/hop/1", "/hop/0", "/after"]
    # a cookie set on a hop goes with the next hops and with the later steps
    assert recorder.seen[1].cookies == {"hop2": "from-hop-2"}
    assert recorder.seen[2].cookies == recorder.seen[3].cookies == {"hop2": "from-hop-2", "hop1": "from-hop-1"}


async def test_redirect_methods_follow_the_rfc(recorder: Recorder):
    """303 (and 301/302 after a POST) continue as GET without the body; 307 and 308 keep method and body."""
    body = {"mode": "json", "content": {"a": 1}}
    await run(
        recorder,
        step("303", method="POST", url="/to?status=303&url=/after-303", body=body),
        step("307", method="POST", url="/to?status=307&url=/after-307", body=body),
        step("302", method="PUT", url="/to?status=302&url=/after-302", body=body),
    )
    landed = {seen.raw_path: seen for seen in recorder.seen if seen.raw_path.startswith("/after")}
    assert (landed["/after-303"].method, landed["/after-303"].body) == ("GET", "")
    assert "Content-Type" not in landed["/after-303"].headers
    assert (landed["/after-307"].method, landed["/after-307"].body) == ("POST", '{"a":1}')
    assert (landed["/after-302"].method, landed["/after-302"].body) == ("GET", "")


async def test_too_many_redirects_end_the_step_in_error(recorder: Recorder):
    result = (await run(recorder, step("loop", url="/loop", retry={"max_attempts": 1}))).one()
    assert result.status == "error" and "more than 10 redirects" in (result.error or "")
    assert recorder.paths() == ["/loop"] * 11


async def test_credentials_stay_behind_on_a_hop_to_another_origin(recorder: Recorder, other: Recorder):
    """Authorization and the case's own Cookie header are meant for the first origin only."""
    result = (
        await run(
            recorder,
            step(
                "away",
                url=f"/to?url={other.url}/landed",
                headers={"Authorization": "Bearer plain-token", "Cookie": "own=1", "X-Trace": "kept"},
            ),
        )
    ).one()
    assert result.status == "passed", result.error
    assert recorder.seen[0].headers["Authorization"] == "Bearer plain-token"
    landed = other.seen[0]
    assert "Authorization" not in landed.headers and "Cookie" not in landed.headers
    assert landed.headers["X-Trace"] == "kept"


async def test_a_redirect_never_takes_a_secret_to_another_origin(recorder: Recorder, other: Recorder):
    """A secret header is dropped on the way out; a secret in the URL cannot be: nothing is sent there."""
    header = await run(
        recorder,
        step("header", url=f"/to?url={other.url}/landed", headers={"X-Api-Key": "{{key}}"}),
        environment={"secrets": {"key": "key-0123456789"}},
    )
    refused = header.one()
    assert refused.status == "error" and "another origin" in (refused.error or "")
    assert "key-0123456789" not in (refused.error or "")
    assert other.seen == []

    in_query = await run(
        recorder,
        step("query", url="/to", query={"url": other.url + "/landed?k={{key}}"}),
        environment={"secrets": {"key": "key-0123456789"}},
    )
    assert in_query.one().status == "error" and other.seen == []

    same_origin = await run(
        recorder,
        step("same origin", url="/to?url=/landed", headers={"X-Api-Key": "{{key}}"}),
        environment={"secrets": {"key": "key-0123456789"}},
    )
    assert same_origin.one().status == "passed"
    assert recorder.seen[-1].headers["X-Api-Key"] == "key-0123456789"  # same origin: the secret goes along


# ---- item 25: cookies (RFC 6265) -----------------------------------------------------------------
def set_cookies(*values: str) -> dict[str, Any]:
    return {"url": "/set", "query": {"c": list(values)}}


async def test_cookies_follow_path_domain_and_expiry(recorder: Recorder, other: Recorder):
    await run(
        recorder,
        step(
            "set",
            **set_cookies(
                "plain=1",
                "scoped=2; Path=/app",
                "foreign=3; Domain=example.com",
                "expired=4; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                "deleted=5",
                "old=6",
            ),
        ),
        step("delete", **set_cookies("deleted=; Max-Age=0", "old=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT")),
        step("in scope", url="/app/x"),
        step("out of scope", url="/other"),
        step("another host", url=f"{other.url}/elsewhere"),
    )
    by_path = {seen.raw_path: seen.cookies for seen in recorder.seen}
    assert by_path["/app/x"] == {"plain": "1", "scoped": "2"}
    assert by_path["/other"] == {"plain": "1"}  # Path=/app stays in /app; Domain=example.com was refused
    assert other.seen[0].cookies == {}  # a host-only cookie of 127.0.0.1 never goes to localhost


async def test_cookies_are_never_shared_between_iterations(recorder: Recorder):
    outcome = await run(
        recorder,
        step("read", url="/read/{{n}}"),
        step("set", url="/set", query={"c": "iteration={{n}}"}),
        step("read again", url="/again/{{n}}"),
        rows=rows({"n": "0"}, {"n": "1"}, {"n": "2"}),
        options=RunOptions(concurrency=1),
    )
    assert outcome.outcome.status == "passed"
    by_path = {seen.raw_path: seen.cookies for seen in recorder.seen}
    for n in "012":
        assert by_path[f"/read/{n}"] == {}  # what an earlier iteration set is not seen
        assert by_path[f"/again/{n}"] == {"iteration": n}


async def test_a_login_cookie_reaches_later_steps_and_a_case_cookie_header_wins(engine: Engine):
    """Engine target: /login sets `session`; a step's own Cookie header wins over the jar."""
    run_ = await engine.run(
        step(
            "login",
            method="POST",
            url="/login",
            body={"mode": "json", "content": {"username": "alice", "password": "wonderland-pw"}},
        ),
        step(
            "me", url="/me", assertions=[{"source": "body", "expression": "$.data.session", "expected": "sess-alice"}]
        ),
        step("own header wins", url="/echo", headers={"Cookie": "session=mine"}),
    )
    assert run_.one("step:1").status == "passed"
    assert run_.body("step:2")["cookies"] == {"session": "mine"}


# ---- item 25: expressions and JSONPath ---------------------------------------------------------
async def test_expression_headers_match_names_in_any_case(engine: Engine):
    checks = [
        "headers['Content-Type'].startswith('application/json')",
        "headers['content-type'].startswith('application/json')",
        "headers.get('X-REQUEST-ID') == 'req-42'",
        "'x-request-id' in headers and 'X-Request-Id' in headers",
    ]
    result = (
        await engine.run(
            step("headers", url="/catalog", assertions=[{"source": "expression", "expression": c} for c in checks])
        )
    ).one()
    assert [check["passed"] for check in result.assertions] == [True] * len(checks), result.assertions


async def test_jsonpath_length_and_exists_see_every_match(engine: Engine):
    """length counts the matches, exists/not_exists see them all; the other ops compare the first match."""
    assertions = [
        {"source": "body", "expression": "$.data.tags[*]", "op": "length", "expected": 2},
        {"source": "body", "expression": "$.data.items[*].id", "op": "length", "expected": 3},
        {"source": "body", "expression": "$.data.items[?@.id > 1].name", "op": "length", "expected": 2},
        {"source": "body", "expression": "$.data.items[?@.id > 9].name", "op": "length", "expected": 0},
        {"source": "body", "expression": "$.data.items[*].id", "op": "exists"},
        {"source": "body", "expression": "$.data.items[?@.id > 9]", "op": "not_exists"},
        {"source": "body", "expression": "$.data.tags", "op": "length", "expected": 2},  # one node: its length
        {"source": "body", "expression": "$.data.items[*].name", "op": "eq", "expected": "pen"},  # the first
    ]
    result = (await engine.run(step("paths", url="/catalog", assertions=assertions))).one()
    assert [check["passed"] for check in result.assertions] == [True] * len(assertions), result.assertions
    assert result.assertions[4]["actual"] == [1, 2, 3]


# ---- item 8: URL template values are percent-encoded by position --------------------------------
async def test_url_template_values_are_encoded_and_literal_text_stays_as_written(recorder: Recorder):
    awkward = "a&b#c/d e?f"
    result = (
        await run(
            recorder,
            step(
                "encoded",
                url="{{base}}/items/{{pw}}/tail?q={{pw}}&lit=a%20b+c&k=v",
                query={"also": "{{pw}}"},
                variables={"base": recorder.url},
            ),
            environment={"secrets": {"pw": awkward}},
        )
    ).one()
    assert result.status == "passed", result.error
    seen = recorder.seen[0]
    # one path segment (the client may spell `&` either way, both mean the same in a path)
    assert [unquote(segment) for segment in seen.raw_path.split("/")] == ["", "items", awkward, "tail"]
    assert "#" not in seen.raw_path and "?" not in seen.raw_path
    # each value stays one query value (the client may leave `/` and `?` unencoded there: they mean the same)
    assert parse_qsl(seen.query_string, keep_blank_values=True) == [
        ("q", awkward),
        ("lit", "a b c"),
        ("k", "v"),
        ("also", awkward),
    ]
    assert "&lit=a%20b+c&k=v&" in seen.query_string  # the literal text as written
    assert seen.query == {"q": awkward, "lit": "a b c", "k": "v", "also": awkward}
    assert result.request is not None and MASK in result.request["url"] and "a%26b" not in result.request["url"]


async def test_a_plain_variable_in_the_path_cannot_add_segments_or_a_query(recorder: Recorder):
    result = (await run(recorder, step("id", url="/orders/{{id}}", variables={"id": "1/../../admin?x=1"}))).one()
    assert result.status == "passed"
    assert [unquote(segment) for segment in recorder.seen[0].raw_path.split("/")] == ["", "orders", "1/../../admin?x=1"]
    assert recorder.seen[0].query_string == ""


# ---- item 7: run variables cannot redirect a request that carries a secret -----------------------
KEY = "key-0123456789"
SECRET_CALL = {"url": "{{host}}/api", "headers": {"X-Api-Key": "{{key}}"}}


async def test_run_variables_cannot_send_a_secret_to_a_host_they_choose(recorder: Recorder, other: Recorder):
    attacked = await run(
        recorder,
        step("secret call", **SECRET_CALL),
        environment={"variables": {"host": recorder.url}, "secrets": {"key": KEY}},
        run_variables={"host": other.url},
    )
    result = attacked.one()
    assert result.status == "error" and result.request is not None  # the request is recorded, never sent
    assert "the run's variables change where it goes" in (result.error or "")
    assert other.seen == [] and recorder.seen == []
    assert KEY not in (result.error or "") and attacked.outcome.status == "failed"

    # a run variable that does not move the request is fine, and so is one on a request with no secret
    fine = await run(
        recorder,
        step("secret call", **SECRET_CALL, query={"sku": "{{sku}}"}),
        step("no secret", url="{{host}}/public"),
        environment={"variables": {"host": recorder.url}, "secrets": {"key": KEY}},
        run_variables={"sku": "A-1"},
    )
    assert fine.outcome.status == "passed"
    assert recorder.seen[0].headers["X-Api-Key"] == KEY and recorder.seen[0].query == {"sku": "A-1"}


async def test_the_host_may_come_from_the_scenario_or_the_environment(recorder: Recorder, other: Recorder):
    from_scenario = await run(
        recorder,
        step("secret call", **SECRET_CALL),
        environment={"secrets": {"key": KEY}},
        scenario_variables={"host": recorder.url},
        run_variables={"unrelated": "x"},
    )
    assert from_scenario.outcome.status == "passed"
    assert recorder.seen[0].headers["X-Api-Key"] == KEY

    # a host that only the run variables give is refused too
    only_run = await run(
        recorder,
        step("secret call", **SECRET_CALL),
        environment={"secrets": {"key": KEY}},
        run_variables={"host": other.url},
    )
    assert only_run.one().status == "error" and other.seen == []

    # a derived secret (a reversed key) and {{base_url}} are covered as well
    derived = await run(
        recorder,
        step(
            "derived",
            url="{{base_url}}/api",
            headers={"X-Api-Key": "{{rev}}"},
            pre_processors=[{"type": "set", "name": "rev", "expression": "vars['key'][::-1]"}],
        ),
        environment={"secrets": {"key": KEY}},
        run_variables={"base_url": other.url},
    )
    assert derived.one().status == "error" and other.seen == []


async def test_a_project_may_allow_run_variables_to_move_a_secret(recorder: Recorder, other: Recorder):
    allowed = await run(
        recorder,
        step("secret call", **SECRET_CALL),
        environment={"variables": {"host": recorder.url}, "secrets": {"key": KEY}},
        run_variables={"host": other.url},
        options=RunOptions(run_variables_may_redirect_secrets=True),
    )
    assert allowed.outcome.status == "passed"
    assert other.seen[0].headers["X-Api-Key"] == KEY
