"""A case's request template compiled once, rendered per request into a PreparedRequest."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import orjson

from app.engine.specs import ApiKeyAuth, AuthSpec, BasicAuth, BearerAuth, RequestSpec
from app.engine.templates import Renderer, Scope, as_text, compile_text, compile_url, compile_value, has_template
from app.engine.transport import PreparedRequest


class RequestBuildError(Exception):
    """The request cannot be built (for example a relative URL with no base URL)."""


def _query_items(query: dict[str, Any]) -> list[tuple[Renderer, Renderer]]:
    items: list[tuple[Renderer, Renderer]] = []
    for name, value in query.items():
        for single in value if isinstance(value, list) else [value]:
            items.append((compile_text(name), compile_text(as_text(single))))
    return items


class CompiledRequest:
    __slots__ = (
        "_auth", "_body", "_body_mode", "_content_type", "_has_type", "_headers", "_query", "_static_headers", "_url",
        "method",
    )  # fmt: skip

    def __init__(self, spec: RequestSpec) -> None:
        self.method = spec.method.upper()
        self._url = compile_url(spec.url)
        headers = spec.headers
        self._headers = [(compile_text(k), compile_text(v)) for k, v in headers.items()]
        # Headers without a template are the same for every request: built here once, copied per request.
        constant = not any(has_template(k) or has_template(v) for k, v in headers.items())
        self._static_headers: list[tuple[str, str]] | None = list(headers.items()) if constant else None
        self._query = _query_items(spec.query)
        body = spec.body
        self._body_mode = body.mode
        self._content_type = body.content_type
        if body.mode == "json":
            self._body: Renderer | None = compile_value(body.content)
        elif body.mode == "raw":
            self._body = compile_text(body.content or "")
        elif body.mode in ("urlencoded", "form"):
            self._body = compile_value({k: as_text(v) for k, v in (body.content or {}).items()})
        else:
            self._body = None
        self._auth = _compile_auth(spec.auth)
        # Whether the case sets its own Content-Type, when that is known before rendering (constant header
        # names, and no API key that adds a header of its own).
        adds_header = isinstance(spec.auth, ApiKeyAuth) and spec.auth.add_to == "header"
        known = not any(has_template(k) for k in headers) and not adds_header
        self._has_type = any(k.lower() == "content-type" for k in headers) if known else None

    def url(self, scope: Scope, base_url: str) -> str:
        """The rendered URL (before the query items), joined to the environment's base URL when relative."""
        url = self._url(scope)
        if url.startswith("/"):
            if not base_url:
                raise RequestBuildError(f"url '{url}' is relative and the environment has no base_url")
            return base_url.rstrip("/") + url
        if not url.lower().startswith(("http://", "https://")):
            raise RequestBuildError(f"url '{url}' is not absolute (http:// or https://) after rendering")
        return url

    def render(self, scope: Scope, base_url: str) -> PreparedRequest:
        """The request as it leaves (cookies are added per hop by app.engine.exchange)."""
        url = self.url(scope, base_url)
        if self._static_headers is not None:
            headers = self._static_headers.copy()
        else:
            headers = [(name(scope), value(scope)) for name, value in self._headers]
        query = [(name(scope), value(scope)) for name, value in self._query]
        auth_query = self._auth(scope, headers) if self._auth else None
        if auth_query:
            query.append(auth_query)
        if query:
            url += ("&" if urlsplit(url).query else "?") + urlencode(query, quote_via=quote)
        body, body_text = self._render_body(scope, headers)
        return PreparedRequest(self.method, url, headers, body, body_text)

    def _render_body(self, scope: Scope, headers: list[tuple[str, str]]) -> tuple[bytes | None, str | None]:
        if self._body is None:
            return None, None
        value = self._body(scope)
        has_type = self._has_type
        if has_type is None:
            has_type = any(name.lower() == "content-type" for name, _ in headers)
        if self._body_mode == "json":
            data = orjson.dumps(value)
            content_type = "application/json"
        elif self._body_mode == "raw":
            data = value.encode()
            content_type = self._content_type or "text/plain; charset=utf-8"
        elif self._body_mode == "urlencoded":
            data = urlencode(value).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            boundary = uuid.uuid4().hex
            data = _multipart(value, boundary)
            content_type = f"multipart/form-data; boundary={boundary}"
            headers[:] = [(n, v) for n, v in headers if n.lower() != "content-type"]
            has_type = False
        if not has_type:
            headers.append(("Content-Type", self._content_type or content_type))
        return data, data.decode(errors="replace")


def _multipart(fields: dict[str, str], boundary: str) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def _compile_auth(auth: AuthSpec) -> Any:
    if isinstance(auth, BearerAuth):
        token = compile_text(auth.token)

        def bearer(scope: Scope, headers: list[tuple[str, str]]) -> None:
            headers.append(("Authorization", f"Bearer {token(scope)}"))

        return bearer
    if isinstance(auth, BasicAuth):
        username, password = compile_text(auth.username), compile_text(auth.password)

        def basic(scope: Scope, headers: list[tuple[str, str]]) -> None:
            pair = f"{username(scope)}:{password(scope)}".encode()
            headers.append(("Authorization", "Basic " + base64.b64encode(pair).decode()))

        return basic
    if isinstance(auth, ApiKeyAuth):
        key, value = compile_text(auth.key), compile_text(auth.value)
        where = auth.add_to

        def api_key(scope: Scope, headers: list[tuple[str, str]]) -> tuple[str, str] | None:
            if where == "query":
                return key(scope), value(scope)
            headers.append((key(scope), value(scope)))
            return None

        return api_key
    return None
