"""The bench's order-flow target (nginx in ../shared/bench) as a local aiohttp app with state, shared by the
Postman import tests and the `exile run` tests: a token from login, an order for that token, a payment.

`running_order_flow` serves it in the test's event loop (async tests); `serve_in_thread` serves any aiohttp app on
its own loop in a thread, for tests whose code under test runs its own event loop (`exile run`'s asyncio.run).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aiohttp import web

from tests.local_server import serving

BENCH_URL = "http://127.0.0.1:18080"


class OrderFlow:
    """login -> create order -> pay, answering as the bench's nginx does, and checking what it is sent."""

    def __init__(self) -> None:
        self.tokens: set[str] = set()
        self.orders: dict[str, int] = {}
        self.paid: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/login", self.login)
        app.router.add_post("/orders", self.create_order)
        app.router.add_post("/pay", self.pay)
        return app

    async def login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not body.get("username") or body.get("password") != "pw":
            return web.json_response({"code": 401}, status=401)
        token = f"tok-{body['username']}"
        self.tokens.add(token)
        return web.json_response({"code": 0, "data": {"token": token, "user_id": 42}})

    async def create_order(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return web.json_response({"code": 403}, status=403)
        body = await request.json()
        if not isinstance(body.get("qty"), int):  # `"qty": {{qty}}` in the raw body must stay a number
            return web.json_response({"code": 400}, status=400)
        order_id = f"o-{len(self.orders) + 1}"
        self.orders[order_id] = body["qty"]
        return web.json_response({"code": 0, "data": {"order_id": order_id, "amount": 100 * body["qty"]}})

    async def pay(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("order_id") not in self.orders:
            return web.json_response({"code": 404}, status=404)
        self.paid.append(body["order_id"])
        return web.json_response({"code": 0, "data": {"status": "PAID"}})


@asynccontextmanager
async def running_order_flow() -> AsyncIterator[tuple[OrderFlow, str]]:
    """The target in the current event loop on a free port: (its state, its base URL)."""
    target = OrderFlow()
    async with serving(target.app()) as url:
        yield target, url


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """The app on 127.0.0.1 (a free port) on its own event loop in a thread; yields its base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    ready = threading.Event()
    port: list[int] = []

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        ready.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "the target did not start"
    try:
        yield f"http://127.0.0.1:{port[0]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def bench_rows(count: int) -> list[dict[str, Any]]:
    """The rows ../shared/bench/make_data.py writes (username,password,sku,qty), as a CSV reader gives them."""
    return [
        {"username": f"user{i}", "password": "pw", "sku": f"sku-{i % 50}", "qty": str(1 + i % 5)} for i in range(count)
    ]
