"""Exile's MCP server for coding agents: the tools of app/ai/mcp_tools.py over stdio (`exile mcp`) and
streamable HTTP (`/mcp`), each call acting as the caller's bearer token through Exile's own REST API."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.ai.mcp_tools import ExileApi, api_error_message, caller, mcp
from app.core.errors import error_body

INTERNAL_BASE_URL = "http://exile.internal"
FORWARDED_HEADERS = ("authorization", "x-forwarded-for")


def _client_of(app: ASGIApp, token_headers: dict[str, str], peer: tuple[str, int] | None) -> httpx.AsyncClient:
    """A client of the app in this process: the API's whole stack (middleware, errors), no network."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=peer or ("127.0.0.1", 123))
    return httpx.AsyncClient(transport=transport, base_url=INTERNAL_BASE_URL, headers=token_headers)


class McpHttpEndpoint:
    """`/mcp` (streamable HTTP, stateless, JSON answers): the bearer token is checked by the API before any MCP
    message is read (its 401 answers as is), then each tool call goes to the API as that caller.

    Stateless because Exile runs several worker processes: a session kept in one process's memory would be
    unknown to the next request's process. Each request runs its own short-lived session manager, so the
    caller set for it here is what its tools see, and no state outlives the request.
    """

    def __init__(self, exile_app: ASGIApp) -> None:
        self.exile_app = exile_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        # The API sees the caller as this request's: its token, and the address its audit entries record.
        forwarded = {name: ", ".join(headers.getlist(name)) for name in FORWARDED_HEADERS if name in headers}
        peer = scope.get("client")
        async with _client_of(self.exile_app, forwarded, (peer[0], peer[1]) if peer else None) as http:
            me = await http.get("/api/v1/auth/me")
            if me.status_code != 200:
                refusal = Response(me.content, status_code=me.status_code, media_type=me.headers.get("content-type"))
                if me.status_code == 401:
                    refusal.headers["WWW-Authenticate"] = "Bearer"
                await refusal(scope, receive, send)
                return
            if scope["method"] != "POST":
                # Stateless: no session to stream to or to end, so no GET stream and no DELETE (the spec's 405).
                message = "MCP here is stateless JSON over POST: no event stream (GET) and no session (DELETE)"
                await JSONResponse(
                    error_body("method_not_allowed", message), status_code=405, headers={"Allow": "POST"}
                )(scope, receive, send)
                return
            acting = caller.set(ExileApi(http))
            try:
                manager = StreamableHTTPSessionManager(
                    app=mcp._lowlevel_server,  # the SDK's own Client reaches it the same way
                    stateless=True,
                    json_response=True,
                )
                async with manager.run():
                    await manager.handle_request(scope, receive, send)
            finally:
                caller.reset(acting)


@asynccontextmanager
async def _stdio_client(token: str, url: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the server at `url`, or of the app in this process with its lifespan running."""
    token_headers = {"Authorization": f"Bearer {token}"}
    if url:
        async with httpx.AsyncClient(base_url=url.rstrip("/"), headers=token_headers, timeout=60) as http:
            yield http
        return
    from app.main import app as exile_app

    async with exile_app.router.lifespan_context(exile_app), _client_of(exile_app, token_headers, None) as http:
        yield http


async def serve_stdio(token: str, url: str | None) -> int:
    """`exile mcp`: check the token, then serve the tools on stdin/stdout until the agent hangs up.

    Returns the exit code: 2 when the token or the settings are refused, 1 when Exile cannot be reached.
    """
    from app.core.config import ConfigError

    where = url or "this machine's database"
    try:
        async with _stdio_client(token, url) as http:
            try:
                me = await http.get("/api/v1/auth/me")
            except httpx.HTTPError as exc:
                print(f"error: cannot reach Exile at {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
                return 1
            if me.status_code != 200:
                print(f"error: Exile at {where} refused EXILE_TOKEN: {api_error_message(me)}", file=sys.stderr)
                return 2 if me.status_code in (401, 403) else 1
            account = me.json()
            print(f"exile mcp: serving as {account.get('email')} ({where})", file=sys.stderr)
            caller.set(ExileApi(http))
            await mcp.run_stdio_async()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
