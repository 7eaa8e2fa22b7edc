"""Request bodies are bounded: larger than MAX_REQUEST_BYTES answers 413 `body_too_large`, and never more
than that is held in memory.

Counted on the raw ASGI stream, so it holds whatever the client says: a `Content-Length` over the limit is
refused before a byte is read, and a body without one (chunked) or longer than it claimed is cut off as soon
as the bytes received pass the limit. Without it, a 30 MB case or dataset was stored (another copy in the
audit trail) and on MariaDB a body over `max_allowed_packet` got 503.

A route that needs more (a later file import) says so with FastAPI's own `max_body_size=` on the route
(`@router.post(..., max_body_size=50 * 1024 * 1024)`): the route is found before routing, so a declared body
over its limit is still refused before anything runs (FastAPI's built-in check runs the handler first for
routes that do not read the body, then swaps the answer for a plain-text 413).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import error_body


def limit_for(scope: Scope, routes: Sequence[BaseRoute], default: int) -> int:
    """The route's own `max_body_size` when it has one, else the default."""
    for route in routes:
        if getattr(route, "max_body_size", None) is not None and route.matches(scope)[0] == Match.FULL:
            return int(route.max_body_size)  # type: ignore[attr-defined]
    return default


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the body passes the limit; FastAPI lets an HTTPException through while it
    reads a body, so the app's handler answers 413 in the one error shape."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _message(limit))
        self.limit = limit


def _message(limit: int) -> str:
    return f"The request body is larger than the {limit} bytes this server accepts here"


def _details(limit: int, size: int | None) -> list[dict[str, object]]:
    detail: dict[str, object] = {"loc": ["body"], "msg": f"at most {limit} bytes", "limit": limit}
    if size is not None:
        detail["size"] = size
    return [detail]


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: Callable[[], int], routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.routes = routes
        self._larger: list[BaseRoute] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._larger is None:  # routes are all added by the first request
            self._larger = [route for route in self.routes() if getattr(route, "max_body_size", None) is not None]
        limit = limit_for(scope, self._larger, self.max_bytes())
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(send, limit, declared)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if started:  # the app answered and then read on: nothing more can be said
                raise
            await self._refuse(send, limit, None)

    @staticmethod
    async def _refuse(send: Send, limit: int, size: int | None) -> None:
        await too_large_response(limit, size)({"type": "http"}, _nothing, send)


def too_large_response(limit: int, size: int | None = None) -> JSONResponse:
    return JSONResponse(
        error_body("body_too_large", _message(limit), _details(limit, size)),
        status_code=413,
        headers={"Connection": "close"},
    )


async def body_too_large_handler(_request: Request, exc: Exception) -> JSONResponse:
    """The app's handler for BodyTooLarge raised while a route reads its body (the same answer as above)."""
    return too_large_response(exc.limit if isinstance(exc, BodyTooLarge) else 0)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
