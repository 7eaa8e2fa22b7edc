"""The engine's only way out: a small transport interface and its aiohttp implementation.

aiohttp was picked by measurement (DESIGN 4): against the same local nginx, its pooled client did
4,000 req/s sequentially and 11,900 at 16 in flight, httpx's async client 1,160 and 510.
"""

from __future__ import annotations

import asyncio
import codecs
import errno
import hashlib
import ssl
import time
from dataclasses import dataclass, field
from functools import cached_property
from http.cookies import SimpleCookie
from typing import Any, Protocol

import aiohttp
import orjson

NOT_JSON = object()
# Bodies are read up to this many bytes (after decompression) unless the caller says otherwise.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass(slots=True)
class PreparedRequest:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None = None
    body_text: str | None = None  # what the snapshot shows


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    elapsed_ms: float
    url: str = ""
    redirect_cookies: list[str] = field(default_factory=list)  # Set-Cookie values of redirect hops, in order
    hops: list[dict[str, Any]] = field(default_factory=list)  # redirects followed: {status, url, location}
    truncated: bool = False  # the target sent more than the body cap: `body` holds its first bytes only
    content_length: int | None = None  # what the target declared (of the encoded body), when it did
    sha256: str | None = None  # of `body`, when the transport hashed it as it read
    _lower: dict[str, str] | None = field(default=None, repr=False)

    def header(self, name: str) -> str | None:
        if self._lower is None:
            lowered: dict[str, str] = {}
            for key, value in self.headers:
                key = key.lower()
                lowered[key] = f"{lowered[key]}, {value}" if key in lowered and key != "set-cookie" else value
            self._lower = lowered
        return self._lower.get(name.lower())

    def header_dict(self) -> dict[str, str]:
        self.header("")
        assert self._lower is not None
        return self._lower

    def set_cookies(self) -> dict[str, str]:
        """Cookies the response set (redirect hops first, so the final response wins)."""
        cookies: dict[str, str] = {}
        values = [*self.redirect_cookies, *(value for key, value in self.headers if key.lower() == "set-cookie")]
        for value in values:
            parsed: SimpleCookie = SimpleCookie()
            try:
                parsed.load(value)
            except Exception:  # a malformed cookie is the target's problem; skip it
                continue
            cookies.update({name: morsel.value for name, morsel in parsed.items()})
        return cookies

    @cached_property
    def text(self) -> str:
        return self.body.decode(self._charset(), errors="replace")

    def text_head(self, chars: int) -> str:
        """The first `chars` characters of the text, decoding only what they need (a 1 MB body stays cheap)."""
        if "text" in self.__dict__ or len(self.body) <= chars:
            return self.text[:chars]
        # No character takes more than 4 bytes, so this prefix always holds `chars` whole characters.
        return self.body[: chars * 4 + 4].decode(self._charset(), errors="replace")[:chars]

    @cached_property
    def json(self) -> Any:
        """The parsed body, or NOT_JSON."""
        if not self.body:
            return NOT_JSON
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return NOT_JSON

    def _charset(self) -> str:
        content_type = self.header("content-type") or ""
        for part in content_type.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
                try:
                    codecs.lookup(charset)
                except LookupError:  # a charset Python does not know: read it as UTF-8 rather than fail
                    return "utf-8"
                return charset
        return "utf-8"


class TransportError(Exception):
    """No usable response: connection refused, reset, DNS, TLS, or a timeout."""


class Transport(Protocol):
    async def send(
        self, request: PreparedRequest, timeout_s: float, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> Response: ...

    async def close(self) -> None: ...


class AiohttpTransport:
    """One pooled client per run: keep-alive connections shared by all iterations."""

    def __init__(self, *, limit: int = 64, verify_tls: bool = True, proxy: str | None = None) -> None:
        self._limit = limit
        self._verify_tls = verify_tls
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """A step's timeout is built once and reused; other budgets (what a redirect leaves) are built each time."""
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=seconds)
            if (seconds * 1000).is_integer() and len(self._timeouts) < 256:  # whole milliseconds: a step's own
                self._timeouts[seconds] = timeout
        return timeout

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            ssl_option: ssl.SSLContext | bool = True if self._verify_tls else False
            connector = aiohttp.TCPConnector(limit=self._limit, ssl=ssl_option, ttl_dns_cache=300)
            # Cookies are kept per iteration by the engine, never shared between iterations.
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                headers={"User-Agent": "Exile/0.1"},
            )
        return self._session

    async def send(
        self, request: PreparedRequest, timeout_s: float, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> Response:
        """Send once; the body is read up to `max_body_bytes` (decompressed), the rest is never read."""
        client = self._client()
        started = time.perf_counter()
        reading_body = False
        try:
            async with client.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                proxy=self._proxy,
                timeout=self._timeout(timeout_s),
                # The engine follows redirects itself, hop by hop (cookies, hops recorded, credentials).
                allow_redirects=False,
            ) as raw:
                reading_body = True
                body, truncated, sha256 = await _read_capped(raw, max_body_bytes)
                return Response(
                    status=raw.status,
                    headers=list(raw.headers.items()),
                    body=body,
                    elapsed_ms=(time.perf_counter() - started) * 1000,
                    url=str(raw.url),
                    truncated=truncated,
                    content_length=raw.content_length,
                    sha256=sha256,
                )
        except TimeoutError:
            raise TransportError(f"timed out after {timeout_s * 1000:.0f} ms") from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise TransportError(_connection_error(exc, reading_body)) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        await asyncio.sleep(0)


def _connection_error(exc: BaseException, reading_body: bool) -> str:
    """What broke, in words first (a reset, a hang-up, a body cut short), then aiohttp's own message."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ClientPayloadError) or (reading_body and isinstance(exc, aiohttp.ClientError | OSError)):
        return f"the connection broke while the response body was read ({detail})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"the target closed the connection without answering ({detail})"
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
        return f"the target reset the connection before answering ({detail})"
    return detail


# While reading a body, the event loop is given back to the other tasks after every this many bytes: data that
# aiohttp already holds (a gzip piece inflates to megabytes) is otherwise read in one go, and /health waits.
_YIELD_EVERY = 256 * 1024
# Bodies at least this large are hashed in a worker thread (hashlib lets go of the GIL): on the event loop,
# hashing 10 MB bodies was the largest share of its time while 8 runs read them at once, and /health waited
# (benchmarks/hostile_targets.py). Joining them there too saved little and raised the peak RSS by ~50 MB.
_HASH_IN_THREAD = 256 * 1024


async def _read_capped(raw: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool, str]:
    """The body up to `cap` bytes, whether the target had more, and the sha256 of what was read.

    aiohttp (3.14) inflates gzip/deflate a bounded piece at a time and pauses the socket while its buffer is
    full, so a gzip bomb is never inflated beyond what we read; at the cap the connection is closed, never
    drained (a chunked body may never end). Measured: 10 MB read from a 1 GB bomb peaked at 38 MB RSS.
    Pieces are taken one at a time as aiohttp buffered them (`readany` would join all it holds first).
    """
    chunks: list[bytes] = []
    kept = since_yield = 0
    truncated = False
    while True:
        chunk, end_of_http_chunk = await raw.content.readchunk()
        if not chunk:
            # Only the end of an HTTP chunk: more may follow. But aiohttp answers every empty body (204, 304,
            # HEAD) with one shared EmptyStreamReader that says "end of an HTTP chunk" forever once read: without
            # the at_eof check the second empty response of a process spins here and hangs the event loop.
            if end_of_http_chunk and not raw.content.at_eof():
                continue
            break  # the end of the body
        if kept + len(chunk) > cap:
            chunk = chunk[: cap - kept]
            truncated = True
        chunks.append(chunk)
        kept += len(chunk)
        if truncated:
            raw.close()
            break
        since_yield += len(chunk)
        if since_yield >= _YIELD_EVERY:
            since_yield = 0
            await asyncio.sleep(0)
    body = b"".join(chunks)
    chunks.clear()  # the pieces go as soon as the body holds them
    return body, truncated, await body_digest(body)


async def body_digest(body: bytes) -> str:
    """The sha256 of a response body; large ones in a worker thread, so the event loop stays free."""
    if len(body) >= _HASH_IN_THREAD:
        return await asyncio.to_thread(_sha256, body)
    return _sha256(body)


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
