"""Engine tests: a real aiohttp target on 127.0.0.1 (random port) and helpers that build specs and run flows.

No database: the root conftest's autouse database fixtures are replaced here by no-ops.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.engine.clock import Clock
from app.engine.http1 import Http1Transport
from app.engine.results import FlowOutcome, ListSink, StepResult
from app.engine.runner import run_flow
from app.engine.specs import (
    CaseSpec,
    DataRow,
    DatasetSpec,
    EnvironmentSpec,
    FlowSpec,
    RequestSpec,
    RunOptions,
    StepSpec,
)
from app.engine.transport import AiohttpTransport, Transport
from tests.engine.clock import FakeClock

USERS = {"alice": "wonderland-pw", "bob": "builder-pw"}
BIG_BODY_BYTES = 1024 * 1024


# ---- no database for engine tests ----------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def migrated_database() -> None:
    """Overrides the root fixture: the engine is a pure library and needs no database."""


@pytest.fixture(autouse=True)
def empty_tables() -> None:
    """Overrides the root fixture (nothing to empty)."""


# ---- the target ----------------------------------------------------------------------------------
@dataclass
class Arrival:
    at: float  # time.monotonic() when the request reached the target
    method: str
    path: str
    query: dict[str, str]


class Target:
    """A small shop API with the awkward endpoints a test engine meets, and counters of what it received."""

    def __init__(self) -> None:
        self.url = ""
        self.reset()

    def reset(self) -> None:
        # Handlers still sleeping for an earlier test (their client gave up) must not touch the new counters.
        self.generation = getattr(self, "generation", 0) + 1
        self.arrivals: list[Arrival] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: dict[str, int] = defaultdict(int)  # per key, for /flaky and /orders/{id}
        self.next_order = 0

    # counters ------------------------------------------------------------------------------------
    def count(self, path: str | None = None) -> int:
        return sum(1 for a in self.arrivals if path is None or a.path == path)

    def paths(self) -> list[str]:
        return [a.path for a in self.arrivals]

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._counting])
        app.router.add_post("/login", self.login)
        app.router.add_post("/orders", self.create_order)
        app.router.add_post("/pay", self.pay)
        app.router.add_get("/orders/{order_id}", self.get_order)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/flaky", self.flaky)
        app.router.add_get("/big", self.big)
        app.router.add_get("/redirect", self.redirect)
        app.router.add_get("/me", self.me)
        app.router.add_get("/html", self.html)
        app.router.add_get("/catalog", self.catalog)
        app.router.add_get("/charset", self.charset)
        app.router.add_post("/form-login", self.form_login)
        app.router.add_route("*", "/echo", self.echo)
        return app

    @web.middleware
    async def _counting(self, request: web.Request, handler: Any) -> web.StreamResponse:
        generation = self.generation
        self.arrivals.append(Arrival(time.monotonic(), request.method, request.path, dict(request.query)))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await handler(request)
        finally:
            if generation == self.generation:
                self.in_flight -= 1

    # the shop ------------------------------------------------------------------------------------
    async def login(self, request: web.Request) -> web.Response:
        body = await request.json()
        username, password = body.get("username"), body.get("password")
        if USERS.get(username) != password:
            return web.json_response({"code": 1, "message": "bad credentials"}, status=401)
        response = web.json_response({"code": 0, "data": {"token": f"tok-{username}", "user": username}})
        response.set_cookie("session", f"sess-{username}")
        return response

    async def create_order(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer tok-"):
            return web.json_response({"code": 401, "message": "missing token"}, status=401)
        body = await request.json()
        self.next_order += 1
        order = {"order_id": f"ord-{self.next_order}", "item": body.get("item"), "qty": body.get("qty")}
        return web.json_response({"code": 0, "data": order}, status=201)

    async def pay(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"code": 0, "data": {"order_id": body.get("order_id"), "status": "PAYING"}})

    async def get_order(self, request: web.Request) -> web.Response:
        """The order becomes PAID on the `paid_after`-th poll (default 3)."""
        order_id = request.match_info["order_id"]
        self.calls[f"order:{order_id}"] += 1
        polls = self.calls[f"order:{order_id}"]
        status = "PAID" if polls >= int(request.query.get("paid_after", "3")) else "PENDING"
        return web.json_response({"code": 0, "data": {"order_id": order_id, "status": status, "polls": polls}})

    # awkward endpoints ---------------------------------------------------------------------------
    async def slow(self, request: web.Request) -> web.Response:
        ms = int(request.query.get("ms", "200"))
        await asyncio.sleep(ms / 1000)
        return web.json_response({"slept_ms": ms})

    async def flaky(self, request: web.Request) -> web.Response:
        """503 for the first `fail` calls with the same key, then 200."""
        key = request.query.get("key", "default")
        self.calls[f"flaky:{key}"] += 1
        calls = self.calls[f"flaky:{key}"]
        if calls <= int(request.query.get("fail", "1")):
            return web.json_response({"ok": False, "calls": calls}, status=503)
        return web.json_response({"ok": True, "calls": calls})

    async def big(self, request: web.Request) -> web.Response:
        size = int(request.query.get("size", str(BIG_BODY_BYTES)))
        return web.Response(body=b"x" * size, content_type="text/plain")

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query.get("to", "/echo?redirected=yes"))

    async def me(self, request: web.Request) -> web.Response:
        session = request.cookies.get("session")
        if not session:
            return web.json_response({"code": 401, "message": "no session"}, status=401)
        return web.json_response({"code": 0, "data": {"session": session}})

    async def html(self, request: web.Request) -> web.Response:
        return web.Response(
            text="<html><body><h1>Welcome</h1><p>order id=4711</p></body></html>", content_type="text/html"
        )

    async def charset(self, request: web.Request) -> web.Response:
        """Latin-1 text, labelled with the charset the caller asks for (even one that does not exist)."""
        name = request.query.get("name", "latin-1")
        return web.Response(body="café".encode("latin-1"), headers={"Content-Type": f"text/plain; charset={name}"})

    async def form_login(self, request: web.Request) -> web.Response:
        """A browser-style login: sets the session cookie on a 302 to the home page."""
        form = await request.post()
        redirect = web.HTTPFound("/echo?home=1")
        redirect.set_cookie("session", f"sess-{form.get('username')!s}")
        raise redirect

    async def catalog(self, request: web.Request) -> web.Response:
        body = {
            "code": 0,
            "data": {
                "name": "Spring catalog",
                "count": 3,
                "price": 9.5,
                "active": True,
                "note": None,
                "tags": ["new", "sale"],
                "items": [{"id": 1, "name": "pen"}, {"id": 2, "name": "ink"}, {"id": 3, "name": "pad"}],
            },
        }
        response = web.json_response(body, headers={"X-Request-Id": "req-42"})
        response.set_cookie("theme", "dark")
        return response

    async def echo(self, request: web.Request) -> web.Response:
        """What the engine sent: method, path, headers, query, raw body, and the parsed body."""
        raw = await request.read()
        content_type = request.content_type
        parsed: Any = None
        if content_type == "application/json" and raw:
            parsed = await request.json()
        elif content_type == "application/x-www-form-urlencoded":
            parsed = dict(await request.post())
        elif content_type == "multipart/form-data":
            parsed = parse_multipart(request.headers["Content-Type"], raw)
        status = int(request.query.get("status", "200"))
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "headers": dict(request.headers),
                "query": dict(request.query),
                "cookies": dict(request.cookies),
                "content_type": content_type,
                "body": raw.decode(errors="replace"),
                "parsed": parsed,
            },
            status=status,
            headers={"X-Echo-Method": request.method},
        )


def parse_multipart(content_type: str, raw: bytes) -> dict[str, str]:
    """The text fields of a multipart body (read independently of aiohttp's own parser)."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    return {
        str(part.get_param("name", header="content-disposition")): part.get_content() for part in message.iter_parts()
    }


@pytest.fixture(scope="session")
async def target_server() -> AsyncIterator[Target]:
    target = Target()
    server = TestServer(target.app(), host="127.0.0.1", port=0)
    await server.start_server()
    target.url = str(server.make_url("")).rstrip("/")
    yield target
    await server.close()


@pytest.fixture
def target(target_server: Target) -> Target:
    target_server.reset()
    return target_server


# Every engine test runs on both clients: the lean HTTP/1.1 one runs flows, aiohttp takes proxied requests.
CLIENTS: dict[str, Callable[[], Transport]] = {"http1": Http1Transport, "aiohttp": AiohttpTransport}


@pytest.fixture(params=list(CLIENTS))
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    client = CLIENTS[request.param]()
    yield client
    await client.close()


# ---- building specs the way the API stores them ---------------------------------------------------
_case_ids = iter(range(1, 1_000_000))


def case(name: str = "case", **request: Any) -> CaseSpec:
    """A case over a request validated as the API validates it when saved (GET /echo unless told otherwise);
    `datasets` and `case_id` go to the case."""
    datasets: Iterable[DatasetSpec] = request.pop("datasets", ())
    case_id: int | None = request.pop("case_id", None)
    spec = RequestSpec.model_validate({"method": "GET", "url": "/echo", **request})
    return CaseSpec(id=case_id or next(_case_ids), name=name, request=spec, datasets=list(datasets))


STEP_FIELDS = frozenset({"step_id", "alias", "enabled", "skip_if", "variables", "dataset_mode", "dataset_ids"})


def step(name: str = "step", **fields: Any) -> StepSpec:
    """A step over a fresh case: StepSpec fields (alias, skip_if, variables, dataset_mode...) go to the step,
    `datasets` to the case, the rest to the case's request."""
    options = {k: v for k, v in fields.items() if k in STEP_FIELDS}
    request = {k: v for k, v in fields.items() if k not in STEP_FIELDS}
    return StepSpec(case=case(name, **request), **options)


def rows(*variables: dict[str, Any]) -> list[DataRow]:
    return [DataRow(index=i, variables=v) for i, v in enumerate(variables)]


@dataclass
class Run:
    outcome: FlowOutcome
    results: list[StepResult] = field(default_factory=list)

    @property
    def final(self) -> list[StepResult]:
        return [r for r in self.results if r.is_final]

    def of(self, step_key: str, iteration: int | None = None) -> list[StepResult]:
        return [r for r in self.results if r.step_key == step_key and (iteration is None or r.iteration == iteration)]

    def one(self, step_key: str = "step:0", iteration: int | None = None) -> StepResult:
        found = [r for r in self.of(step_key, iteration) if r.is_final]
        assert len(found) == 1, found
        return found[0]

    def body(self, step_key: str = "step:0", iteration: int | None = None) -> Any:
        """The parsed JSON the target answered (from the snapshot)."""
        response = self.one(step_key, iteration).response
        assert response is not None
        return orjson.loads(response["body"])


class Engine:
    """Runs flows against the target with a real transport and an in-memory sink."""

    def __init__(self, target: Target, transport: Transport) -> None:
        self.target = target
        self.transport = transport

    async def run(
        self,
        *steps: StepSpec,
        options: RunOptions | None = None,
        cancel: asyncio.Event | None = None,
        environment: dict[str, Any] | None = None,
        sink: Any = None,
        clock: Clock | None = None,
        **flow: Any,
    ) -> Run:
        env = EnvironmentSpec(base_url=self.target.url, **(environment or {}))
        spec = FlowSpec(steps=list(steps), environment=env, **flow)
        sink = sink or ListSink()
        outcome = await run_flow(spec, options or RunOptions(), self.transport, sink, cancel, clock)
        return Run(outcome, sink.results)


@pytest.fixture
def engine(target: Target, transport: Transport) -> Engine:
    return Engine(target, transport)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock to hand `engine.run(clock=...)`: the run's own waits take no wall time and are recorded."""
    return FakeClock()
