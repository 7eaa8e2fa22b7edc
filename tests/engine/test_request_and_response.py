"""What goes out (auth, body modes, cookies, redirects) and what is kept of what comes back (clipping, masking)."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.engine.masking import MASK
from app.engine.specs import DatasetSpec, RunOptions
from app.engine.transport import PreparedRequest
from tests.engine.conftest import BIG_BODY_BYTES, CLIENTS, USERS, Engine, rows, step

LOGIN = {
    "method": "POST",
    "url": "/login",
    "body": {"mode": "json", "content": {"username": "{{user}}", "password": "{{password}}"}},
}


# ---- auth helpers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("auth", "header", "query"),
    [
        ({"type": "bearer", "token": "{{token}}"}, ("Authorization", "Bearer tok-1"), {}),
        (
            {"type": "basic", "username": "{{user}}", "password": "p:w"},
            ("Authorization", "Basic " + base64.b64encode(b"ann:p:w").decode()),
            {},
        ),
        ({"type": "api_key", "key": "X-Api-Key", "value": "{{token}}", "in": "header"}, ("X-Api-Key", "tok-1"), {}),
        ({"type": "api_key", "key": "api_key", "value": "{{token}}", "in": "query"}, None, {"api_key": "tok-1"}),
        ({"type": "none"}, None, {}),
    ],
)
async def test_auth_helpers_add_what_the_target_expects(engine: Engine, auth, header, query):
    run = await engine.run(step(auth=auth, query={"page": 1}, variables={"token": "tok-1", "user": "ann"}))
    echoed = run.body()
    assert echoed["query"] == {"page": "1", **query}
    if header is not None:
        assert echoed["headers"][header[0]] == header[1]
    else:
        assert "Authorization" not in echoed["headers"] and "X-Api-Key" not in echoed["headers"]


async def test_the_bearer_token_from_login_opens_the_orders_endpoint(engine: Engine):
    run = await engine.run(
        step(
            "login",
            **LOGIN,
            extractors=[{"name": "token", "source": "body", "expression": "$.data.token"}],
        ),
        step("order without token", method="POST", url="/orders", body={"mode": "json", "content": {"qty": 1}}),
        step(
            "order",
            method="POST",
            url="/orders",
            auth={"type": "bearer", "token": "{{token}}"},
            body={"mode": "json", "content": {"item": "pen", "qty": 1}},
            assertions=[{"source": "status_code", "op": "eq", "expected": 201}],
        ),
        run_variables={"user": "alice", "password": "wonderland-pw"},
    )
    assert run.one("step:1").response["status"] == 401  # type: ignore[index]
    assert run.one("step:2").status == "passed"


# ---- body modes ----------------------------------------------------------------------------------
async def test_body_modes_are_encoded_with_their_content_type(engine: Engine):
    run = await engine.run(
        step("json", method="POST", body={"mode": "json", "content": {"a": "{{a}}", "b": [1, 2]}}),
        step("raw", method="PUT", body={"mode": "raw", "content": "<a>{{a}}</a>", "content_type": "application/xml"}),
        step("raw text", method="POST", body={"mode": "raw", "content": "plain {{a}}"}),
        step("urlencoded", method="POST", body={"mode": "urlencoded", "content": {"a": "{{a}}", "b": "x y&z", "n": 3}}),
        step("form", method="POST", body={"mode": "form", "content": {"a": "{{a}}", "b": "two words", "n": 3}}),
        step("none", method="DELETE"),
        step(
            "json with own type",
            method="POST",
            headers={"Content-Type": "application/vnd.api+json"},
            body={"mode": "json", "content": {"a": 1}},
        ),
        run_variables={"a": 1},
    )
    json_body = run.body("step:0")
    assert json_body["content_type"] == "application/json" and json_body["parsed"] == {"a": 1, "b": [1, 2]}
    raw = run.body("step:1")
    assert (raw["method"], raw["content_type"], raw["body"]) == ("PUT", "application/xml", "<a>1</a>")
    assert run.body("step:2")["headers"]["Content-Type"] == "text/plain; charset=utf-8"
    urlencoded = run.body("step:3")
    assert urlencoded["content_type"] == "application/x-www-form-urlencoded"
    assert urlencoded["parsed"] == {"a": "1", "b": "x y&z", "n": "3"}
    form = run.body("step:4")
    assert form["content_type"] == "multipart/form-data"
    assert form["parsed"] == {"a": "1", "b": "two words", "n": "3"}
    none = run.body("step:5")
    assert (none["method"], none["body"]) == ("DELETE", "")
    assert run.body("step:6")["headers"]["Content-Type"] == "application/vnd.api+json"
    request = run.one("step:0").request
    assert request is not None and request["body"] == '{"a":1,"b":[1,2]}'


# ---- redirects and cookies -----------------------------------------------------------------------
async def test_redirects_are_followed_to_the_final_response(engine: Engine):
    run = await engine.run(
        step(url="/redirect", assertions=[{"source": "body", "expression": "$.query.redirected", "expected": "yes"}])
    )
    result = run.one()
    assert result.status == "passed"
    assert result.response is not None and result.response["url"] == f"{engine.target.url}/echo?redirected=yes"
    assert engine.target.paths() == ["/redirect", "/echo"]


async def test_cookies_are_kept_within_an_iteration_but_never_shared_across_iterations(engine: Engine):
    me = step("me", url="/me", assertions=[{"source": "status_code", "op": "eq", "expected": 200}])
    run = await engine.run(
        me,
        step("login", **LOGIN, skip_if="vars['user'] is None"),
        me,
        run_variables={"password": "wonderland-pw"},
        rows=rows({"user": "alice"}, {"user": None}),
        options=RunOptions(stop_on_failure=False, concurrency=1),
    )
    assert run.one("step:0", iteration=0).response["status"] == 401  # type: ignore[index]
    after_login = run.one("step:2", iteration=0)
    assert after_login.status == "passed"
    assert after_login.request is not None and ("Cookie", "session=sess-alice") in after_login.request["headers"]
    assert run.body("step:2", iteration=0)["data"] == {"session": "sess-alice"}
    # The next iteration starts with no cookies, even though it runs on the same pooled client.
    assert run.one("step:0", iteration=1).response["status"] == 401  # type: ignore[index]
    assert run.one("step:2", iteration=1).response["status"] == 401  # type: ignore[index]


async def test_concurrent_iterations_each_keep_their_own_session_cookie(engine: Engine):
    run = await engine.run(
        step("login", **LOGIN),
        step("pause", url="/slow?ms=30"),
        step(
            "me",
            url="/me",
            assertions=[{"source": "body", "expression": "$.data.session", "expected": "sess-{{user}}"}],
        ),
        rows=rows(*({"user": user, "password": password} for user, password in USERS.items() for _ in range(3))),
        options=RunOptions(concurrency=6),
    )
    assert engine.target.max_in_flight == 6
    assert run.outcome.status == "passed", [r.assertions for r in run.of("step:2")]
    assert run.outcome.iterations.passed == 6


async def test_every_fan_out_row_carries_the_iteration_cookies(engine: Engine):
    run = await engine.run(
        step("login", **LOGIN),
        step(
            "per account",
            url="/echo",
            dataset_mode="all",
            datasets=[DatasetSpec(id=1, name="a", variables={"n": 1}), DatasetSpec(id=2, name="b", variables={"n": 2})],
        ),
        run_variables={"user": "bob", "password": "builder-pw"},
    )
    assert run.outcome.status == "passed"
    rows_sent = [orjson.loads(r.response["body"]) for r in run.of("step:1")]  # type: ignore[index]
    assert [row["cookies"] for row in rows_sent] == [{"session": "sess-bob"}] * 2


# ---- what is kept of the response ----------------------------------------------------------------
async def test_a_big_body_is_clipped_in_the_snapshot_but_described_in_full(engine: Engine):
    run = await engine.run(
        step(url="/big", assertions=[{"source": "text", "op": "length", "expected": BIG_BODY_BYTES}]),
        options=RunOptions(body_limit=1000),
    )
    result = run.one()
    assert result.status == "passed"  # checks see the whole body, only the snapshot is clipped
    response = result.response
    assert response is not None
    assert response["body"] == "x" * 1000
    assert response["size"] == BIG_BODY_BYTES
    assert response["sha256"] == hashlib.sha256(b"x" * BIG_BODY_BYTES).hexdigest()


async def test_a_big_request_body_is_clipped_in_the_snapshot_too(engine: Engine):
    run = await engine.run(
        step(method="POST", body={"mode": "raw", "content": "y" * 5000}), options=RunOptions(body_limit=100)
    )
    result = run.one()
    assert result.request is not None and result.request["body"] == "y" * 100
    assert result.response is not None and len(result.response["body"]) == 100


async def test_response_headers_and_status_are_recorded(engine: Engine):
    run = await engine.run(step(url="/echo?status=418"))
    response = run.one().response
    assert response is not None
    assert response["status"] == 418
    assert ("X-Echo-Method", "GET") in response["headers"]
    assert response["elapsed_ms"] >= 0


# ---- secrets -------------------------------------------------------------------------------------
async def test_secrets_are_masked_in_every_snapshot_and_error(engine: Engine):
    secret = "wonderland-pw"
    run = await engine.run(
        step(
            "login",
            **LOGIN,
            extractors=[{"name": "sent_password", "source": "body", "expression": "$.data.user"}],
        ),
        step(
            "echo the secret",
            method="POST",
            url="/echo?pw={{password}}",
            headers={"X-Password": "{{password}}"},
            body={"mode": "json", "content": {"password": "{{password}}", "note": "pw is {{password}}"}},
            extractors=[{"name": "echoed", "source": "body", "expression": "$.parsed.password"}],
            assertions=[{"source": "body", "expression": "$.parsed.password", "op": "eq", "expected": "wrong"}],
        ),
        step(
            "per dataset",
            dataset_mode="all",
            datasets=[DatasetSpec(id=1, name="with secret", variables={"copy": secret})],
            query={"copy": "{{copy}}"},
        ),
        step("broken url", url="{{password}}/path"),
        environment={"secrets": {"password": secret}},
        run_variables={"user": "alice"},
        options=RunOptions(stop_on_failure=False),
    )
    assert run.one("step:0").status == "passed"  # the real secret was sent
    assert engine.target.arrivals[1].query == {"pw": secret}
    for result in run.results:
        assert secret not in repr(result), result.step_key
    echoed = run.one("step:1")
    assert echoed.request is not None and echoed.response is not None
    assert echoed.request["url"].endswith(f"/echo?pw={MASK}")
    assert ("X-Password", MASK) in echoed.request["headers"]
    assert echoed.request["body"] == f'{{"password":"{MASK}","note":"pw is {MASK}"}}'
    assert echoed.extracted == {"echoed": MASK}
    assert echoed.dataset is not None and echoed.dataset["values"]["echoed"] == MASK
    assert echoed.assertions[0]["actual"] == MASK and MASK in echoed.assertions[0]["message"]
    assert run.one("step:2").dataset == {
        "row": {},
        "dataset": {"copy": MASK},
        "values": {"sent_password": "alice", "echoed": MASK},
    }
    assert (
        run.one("step:3").error
        == f"broken url: url '{MASK}/path' is not absolute (http:// or https://) after rendering"
    )


async def test_secrets_are_masked_even_when_encoded_on_the_way_out(engine: Engine):
    secret = "p@ss w/rd"
    basic = "Basic " + base64.b64encode(f"ann:{secret}".encode()).decode()
    sent_right = {"source": "expression", "expression": f'body["headers"]["Authorization"] == "{basic}"'}
    run = await engine.run(
        step(
            "basic",
            auth={"type": "basic", "username": "ann", "password": "{{password}}"},
            assertions=[sent_right],
        ),
        step("query", query={"pw": "{{password}}"}),
        step("form", method="POST", body={"mode": "urlencoded", "content": {"pw": "{{password}}"}}),
        step("json", method="POST", body={"mode": "json", "content": {"pw": 'say "{{password}}"'}}),
        environment={"secrets": {"password": secret}},
    )
    assert run.one("step:0").status == "passed"  # the real credentials were sent
    # ... and their base64, echoed back in the body, is masked like the secret it spells
    assert run.body("step:0")["headers"]["Authorization"] == f"Basic {MASK}"
    assert engine.target.arrivals[1].query == {"pw": secret}
    assert run.body("step:2")["parsed"] == {"pw": MASK}
    assert ("Authorization", f"Basic {MASK}") in run.one("step:0").request["headers"]  # type: ignore[index]
    for result in run.results:
        text = repr(result)
        assert "p%40ss" not in text and "p@ss" not in text and "ss+w" not in text, result.step_key
        assert basic not in repr(result.request), result.step_key


async def test_a_secret_cut_by_the_body_limit_does_not_leak_its_beginning(engine: Engine):
    secret = "hunter2-very-secret-value"
    run = await engine.run(
        step(method="POST", body={"mode": "raw", "content": "0123456789" + secret}),
        environment={"secrets": {"token": secret}},
        options=RunOptions(body_limit=20),
    )
    result = run.one()
    assert result.request is not None and "hunter2" not in result.request["body"]
    assert result.request["body"].startswith("0123456789")
    assert result.response is not None and "hunter2" not in result.response["body"]


async def test_a_cookie_set_on_a_redirect_hop_is_kept_for_later_steps(engine: Engine):
    run = await engine.run(
        step(
            "form login",
            method="POST",
            url="/form-login",
            body={"mode": "urlencoded", "content": {"username": "ann"}},
            extractors=[{"name": "session", "source": "cookie", "expression": "session"}],
        ),
        step("me", url="/me", assertions=[{"source": "status_code", "op": "eq", "expected": 200}]),
    )
    login = run.one("step:0")
    assert login.response is not None and login.response["url"].endswith("/echo?home=1")
    assert login.extracted == {"session": "sess-ann"}
    assert run.one("step:1").status == "passed"
    assert run.body("step:1")["data"] == {"session": "sess-ann"}


@pytest.mark.parametrize(("charset", "text"), [("latin-1", "café"), ("no-such-charset", "caf\ufffd")])
async def test_the_declared_charset_is_used_and_an_unknown_one_falls_back_to_utf8(engine: Engine, charset, text):
    run = await engine.run(
        step(url=f"/charset?name={charset}", assertions=[{"source": "text", "op": "eq", "expected": text}])
    )
    result = run.one()
    assert result.status == "passed", result.assertions
    assert result.response is not None and result.response["body"] == text


@pytest.mark.parametrize("client", list(CLIENTS))
async def test_empty_responses_one_after_another_each_end_instead_of_hanging_the_loop(client: str):
    # aiohttp hands every empty body (204, HEAD) the same EmptyStreamReader, which reports "end of an HTTP
    # chunk" forever once read: the transport must still see the end of each body (the second 204 hung).
    async def no_content(_request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("*", "/empty", no_content)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    transport = CLIENTS[client]()
    try:
        url = str(server.make_url("/empty"))
        for method in ("DELETE", "DELETE", "HEAD", "PUT", "HEAD"):
            response = await asyncio.wait_for(transport.send(PreparedRequest(method, url, []), 5.0), 5.0)
            assert response.status == 204 and response.body == b"" and not response.truncated
    finally:
        await transport.close()
        await server.close()
