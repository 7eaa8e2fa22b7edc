"""A lean HTTP/1.1 client for the engine's hot path: asyncio protocol connections parsed by llhttp (httptools).

Why not aiohttp here: against the order-flow nginx, aiohttp's pooled client spends ~70-80 us of CPU on each
request around the socket (session, request and response objects, multidicts, the streams), a protocol on
the same loop with llhttp parsing ~10-12 us (`benchmarks/order_flow.py` prints both). The engine needs little
of what aiohttp adds: it follows redirects, keeps cookies and masks itself. What it needs of a client is here:
keep-alive pools per origin, TLS, gzip/deflate inflated a bounded piece at a time, a body cap that closes the
connection instead of reading on, one deadline per request, and clear errors. Proxies go through aiohttp.

Error texts of connections that fail are aiohttp's, word for word ("ClientConnectorError: Cannot connect to
host ..."), so that runs recorded before and after the switch cluster together and the explain rules read them.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import ssl
import time
import zlib
from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import Any

import httptools
from yarl import URL

from app.engine.transport import (
    DEFAULT_MAX_BODY_BYTES,
    AiohttpTransport,
    PreparedRequest,
    Response,
    TransportError,
    body_digest,
)

USER_AGENT = "Exile/0.1"
# The status line and headers of a response may take this many bytes; a target that sends more is refused
# (a header that never ends must not grow without bound before llhttp hands it over).
MAX_HEAD_BYTES = 256 * 1024
MAX_HEADERS = 1000
# A compressed body is inflated at most this much per turn of the event loop (aiohttp's reader yielded as often).
INFLATE_STEP = 256 * 1024
DNS_TTL_SECONDS = 300.0
# A reused keep-alive connection the target closed just as it was taken is retried once on a new one, for
# these methods only: a request that may have been acted on is not sent twice (as aiohttp and Go do).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_NO_LENGTH_NEEDED = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DEFLATE_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_CLOSED_WITHOUT_ANSWER = (
    "the target closed the connection without answering (ServerDisconnectedError: Server disconnected)"
)
_RESET_BEFORE_ANSWER = (
    "the target reset the connection before answering (ClientOSError: [Errno 104] Connection reset by peer)"
)


class _NoAnswer(TransportError):
    """The connection ended before a byte of the response: on a reused connection the request may be retried."""


class _Stop(Exception):
    """Raised from a parser callback to stop reading (the cap, a HEAD response): the response is complete."""


@dataclass(slots=True, frozen=True)
class _Origin:
    tls: bool
    host: str  # as connected to (IDNA, no brackets)
    port: int


@dataclass(slots=True)
class _Target:
    origin: _Origin
    host_header: str
    path_qs: str
    url_text: str
    basic_auth: str | None  # from user:password@ in the URL, as aiohttp does


@cache
def _tls_context(verify: bool) -> ssl.SSLContext:
    """Built once per process: loading the CA store takes milliseconds."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _parse_target(url: str) -> _Target:
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise TransportError(f"InvalidUrlClientError: {url} ({exc})") from None
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https"):
        raise TransportError(f"NonHttpUrlClientError: {url}")
    host = parsed.raw_host
    if not host:
        raise TransportError(f"InvalidUrlClientError: {url}")
    port = parsed.port or (443 if scheme == "https" else 80)
    basic_auth = None
    if parsed.raw_user is not None:
        text = f"{parsed.user or ''}:{parsed.password or ''}"
        try:
            pair = text.encode("latin-1")  # as aiohttp's BasicAuth.from_url
        except UnicodeEncodeError:
            pair = text.encode("utf-8")
        basic_auth = "Basic " + base64.b64encode(pair).decode("ascii")
    return _Target(
        origin=_Origin(tls=scheme == "https", host=host, port=port),
        host_header=parsed.host_port_subcomponent or host,
        path_qs=parsed.raw_path_qs or "/",
        url_text=str(parsed.with_fragment(None)),
        basic_auth=basic_auth,
    )


def _check_header(name: str, value: str) -> None:
    if not _TOKEN.fullmatch(name):
        raise TransportError(f"ValueError: the request header name {name[:100]!r} is not a valid HTTP token")
    if "\r" in value or "\n" in value or "\0" in value:
        raise TransportError(f"ValueError: the request header {name!r} holds a line break or NUL")


def _request_head(request: PreparedRequest, target: _Target) -> bytes:
    """The request line and headers: the caller's headers as given, then what HTTP/1.1 needs and they left out."""
    method = request.method.upper()
    if not _TOKEN.fullmatch(method):
        raise TransportError(f"ValueError: the method {method[:50]!r} is not a valid HTTP token")
    given: set[str] = set()
    lines = [f"{method} {target.path_qs} HTTP/1.1\r\n"]
    for name, value in request.headers:
        _check_header(name, value)
        given.add(name.lower())
        lines.append(f"{name}: {value}\r\n")
    if "host" not in given:
        lines.insert(1, f"Host: {target.host_header}\r\n")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {USER_AGENT}\r\n")
    if "accept" not in given:
        lines.append("Accept: */*\r\n")
    if "accept-encoding" not in given:
        lines.append("Accept-Encoding: gzip, deflate\r\n")
    if target.basic_auth is not None and "authorization" not in given:
        lines.append(f"Authorization: {target.basic_auth}\r\n")
    body = request.body
    if "content-length" not in given and "transfer-encoding" not in given:
        if body is not None:
            lines.append(f"Content-Length: {len(body)}\r\n")
        elif method not in _NO_LENGTH_NEEDED:
            lines.append("Content-Length: 0\r\n")
    if body and "content-type" not in given:
        lines.append("Content-Type: application/octet-stream\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; it reads one response at a time into plain fields."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: _Origin) -> None:
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reusable = False
        self.waiter: asyncio.Future[None] | None = None
        self._reset_response(0, False)

    def _reset_response(self, cap: int, head_request: bool) -> None:
        self.cap = cap
        self.head_request = head_request
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.kept = 0
        self.truncated = False
        self.headers_done = False
        self.head_bytes = 0
        self.got_bytes = False
        self.until_eof = False
        self.content_length: int | None = None
        self.encoding = ""
        self.decoder: Any = None
        self.compressed: deque[bytes] = deque()  # body pieces not inflated yet
        self.inflating = False  # reading paused while the pieces are inflated a step per loop turn
        self.body_complete = False
        self.keep_alive_at_end = False
        self.message_done = False  # the final response is parsed (its body may still be inflating)
        self.fed_since_body = 0  # bytes fed since the last body byte: trailers that never end are cut off

    # ---- one exchange --------------------------------------------------------------------------------------
    async def exchange(self, head: bytes, body: bytes | None, head_request: bool, cap: int, deadline: float) -> None:
        assert self.transport is not None
        self._reset_response(cap, head_request)
        self.reusable = False
        waiter = self.waiter = self.loop.create_future()
        timer = self.loop.call_at(deadline, self._expire)
        try:
            if body:
                self.transport.writelines((head, body))
            else:
                self.transport.write(head)
            await waiter
        finally:
            timer.cancel()
            self.waiter = None

    def _expire(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(TimeoutError())
        self.abort()

    def _finish(self, reusable: bool) -> None:
        if self.decoder is not None:
            try:
                self._keep(self.decoder.flush())
            except zlib.error:
                self._fail(self._body_error(f"Can not decode content-encoding: {self.encoding}"))
                return
        self.reusable = reusable and not self.truncated
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _fail(self, error: TransportError) -> None:
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # ---- asyncio callbacks ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # not TCP (a test's socket pair): nothing to set
                pass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.abort()  # bytes nobody asked for: the connection cannot be trusted with the next request
            return
        if self.message_done:  # after the response, while its body inflates: never parsed, never reused
            self.keep_alive_at_end = False
            return
        self.got_bytes = True
        self.fed_since_body += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(reusable=False)  # 101 Switching Protocols: the exchange ends at the headers
        except Exception as exc:
            self.reusable = False  # llhttp stays in its error state: this connection is done
            if isinstance(exc.__context__, _Stop) or self.waiter is None or self.waiter.done():
                return  # stopped on purpose (or already settled): what was read stands
            cause = exc.__context__
            if isinstance(cause, TransportError):
                self._fail(cause)
            else:
                self._fail(TransportError(f"the target's response is not valid HTTP/1.1 ({type(exc).__name__}: {exc})"))
            return
        if not self.headers_done:
            # llhttp holds an unfinished header itself: a target that never ends one is cut off here.
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self._fail(TransportError(f"the target's response headers exceed {MAX_HEAD_BYTES // 1024} KiB"))
        elif self.fed_since_body > MAX_HEAD_BYTES and not self.message_done:
            self._fail(TransportError(f"the target's chunked trailers exceed {MAX_HEAD_BYTES // 1024} KiB"))

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost settles the response

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.headers_done and self.until_eof and exc is None:
            if self.inflating:
                self.body_complete, self.keep_alive_at_end = True, False
            else:
                self._finish(reusable=False)  # a body delimited by the end of the connection
        elif not self.got_bytes:
            reset = isinstance(exc, ConnectionResetError)
            waiter.set_exception(_NoAnswer(_RESET_BEFORE_ANSWER if reset else _CLOSED_WITHOUT_ANSWER))
        elif not self.headers_done:
            detail = f"{type(exc).__name__}: {exc}" if exc else "ServerDisconnectedError: Server disconnected"
            waiter.set_exception(
                TransportError(f"the target closed the connection in the middle of its headers ({detail})")
            )
        else:
            detail = f"ClientOSError: {exc}" if exc else "Response payload is not completed"
            waiter.set_exception(self._body_error(detail))

    def _body_error(self, detail: str) -> TransportError:
        return TransportError(f"the connection broke while the response body was read (ClientPayloadError: {detail})")

    # ---- llhttp callbacks ----------------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        if self.headers_done:
            return  # a chunked body's trailer: not a header of the response (aiohttp drops them too)
        if len(self.headers) >= MAX_HEADERS:
            raise TransportError(f"the target sent more than {MAX_HEADERS} response headers")
        self.headers.append((name.decode("latin-1"), value.decode("utf-8", "replace")))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.fed_since_body = 0
        self.status = status = self.parser.get_status_code()
        if status < 200 and status != 101:
            return  # 1xx: informational, the real response follows
        chunked = framed = False
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == "content-length":
                try:
                    self.content_length = int(value)
                except ValueError:
                    self.content_length = None
            elif lowered == "content-encoding":
                self.encoding = value.strip().lower()
            elif lowered == "transfer-encoding":
                # llhttp reads a response whose last transfer coding is not chunked until the connection ends
                framed, chunked = True, value.lower().rsplit(",", 1)[-1].strip() == "chunked"
        if self.head_request:
            self._finish(reusable=False)  # llhttp would wait for the body a HEAD response announces but never has
            raise _Stop
        self.until_eof = not chunked and (framed or self.content_length is None) and status not in (204, 304)
        wbits = _DEFLATE_ENCODINGS.get(self.encoding)
        if wbits is not None:
            self.decoder = zlib.decompressobj(wbits)

    def on_body(self, chunk: bytes) -> None:
        self.fed_since_body = 0
        decoder = self.decoder
        if decoder is None:
            self._keep(chunk)
        else:
            if self.encoding == "deflate":
                if chunk[0] & 0x0F != 8:  # raw deflate without the zlib header: as aiohttp, read it anyway
                    self.decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                self.encoding = "deflate*"
            self.compressed.append(chunk)
            if not self.inflating:
                self._inflate()
        if self.truncated:
            self.decoder = None
            self._finish(reusable=False)
            raise _Stop

    def _inflate(self) -> None:
        """Inflate at most INFLATE_STEP bytes, never past the cap (a gzip bomb stops there); if more is waiting,
        stop reading and go on at the next turn of the event loop, so other runs and /health are not held up."""
        decoder, budget = self.decoder, INFLATE_STEP
        assert decoder is not None
        try:
            while budget > 0 and not self.truncated and (decoder.unconsumed_tail or self.compressed):
                piece = decoder.unconsumed_tail or self.compressed.popleft()
                inflated = decoder.decompress(piece, min(budget, self.cap - self.kept + 1))
                self._keep(inflated)
                budget -= len(inflated)
        except zlib.error:
            raise self._body_error(f"Can not decode content-encoding: {self.encoding.rstrip('*')}") from None
        more = not self.truncated and bool(decoder.unconsumed_tail or self.compressed)
        if more:
            if not self.inflating and self.transport is not None:
                self.transport.pause_reading()
            self.inflating = True
            self.loop.call_soon(self._inflate_later)
        elif self.inflating:
            self.inflating = False
            if self.transport is not None and not self.closed and not self.truncated:
                self.transport.resume_reading()

    def _inflate_later(self) -> None:
        if self.waiter is None or self.waiter.done():
            return  # timed out or failed meanwhile
        try:
            self._inflate()
        except TransportError as exc:
            self._fail(exc)
            return
        if self.truncated:
            self.decoder = None
            self._finish(reusable=False)
            self.abort()  # never drained: the rest of the body is not read
        elif not self.inflating and self.body_complete:
            self._finish(reusable=self.keep_alive_at_end)

    def _keep(self, piece: bytes) -> None:
        if not piece:
            return
        room = self.cap - self.kept
        if len(piece) > room:
            piece = piece[:room]
            self.truncated = True
        if piece:
            self.chunks.append(piece)
            self.kept += len(piece)

    def on_message_complete(self) -> None:
        if self.status < 200 and self.status != 101:
            self._reset_response(self.cap, self.head_request)  # after a 1xx, wait for the response itself
            self.got_bytes = True
            return
        self.message_done = True
        if self.inflating:  # the body is all here but not yet inflated: _inflate_later ends the response
            self.body_complete, self.keep_alive_at_end = True, self.parser.should_keep_alive()
            return
        self._finish(reusable=self.parser.should_keep_alive())

    def on_message_begin(self) -> None:
        if self.message_done or self.waiter is None or self.waiter.done():
            # Bytes after the response (junk, or a second answer): never read into this response or the next.
            self.reusable = self.keep_alive_at_end = False
            raise _Stop


class Http1Transport:
    """One pool of keep-alive connections per run, per origin; requests through a proxy go through aiohttp."""

    def __init__(self, *, limit: int = 64, verify_tls: bool = True, proxy: str | None = None) -> None:
        self._verify_tls = verify_tls
        self._slots = asyncio.Semaphore(limit)
        self._limit = limit
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._idle_count = 0
        self._targets: dict[str, _Target] = {}
        self._addresses: dict[tuple[str, int], tuple[float, list[tuple[Any, ...]]]] = {}
        self._via_proxy = AiohttpTransport(limit=limit, verify_tls=verify_tls, proxy=proxy) if proxy else None
        self._closed = False  # a request still in flight at close() does not put its connection back

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _parse_target(url)
            if len(self._targets) >= 4096:  # URLs that differ per row: keep the cache bounded
                self._targets.clear()
            self._targets[url] = target
        return target

    async def send(
        self, request: PreparedRequest, timeout_s: float, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> Response:
        if self._via_proxy is not None:
            return await self._via_proxy.send(request, timeout_s, max_body_bytes)
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        target = self._target(request.url)
        head = _request_head(request, target)
        method = request.method.upper()
        async with self._slots:
            try:
                connection = await self._exchange(loop, target, head, request.body, method, max_body_bytes, deadline)
            except TimeoutError:
                raise TransportError(f"timed out after {timeout_s * 1000:.0f} ms") from None
        body = b"".join(connection.chunks)
        connection.chunks = []
        return Response(
            status=connection.status,
            headers=connection.headers,
            body=body,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            url=target.url_text,
            truncated=connection.truncated,
            content_length=connection.content_length,
            sha256=await body_digest(body),
        )

    async def _exchange(
        self,
        loop: asyncio.AbstractEventLoop,
        target: _Target,
        head: bytes,
        body: bytes | None,
        method: str,
        cap: int,
        deadline: float,
    ) -> _Connection:
        for attempt in (1, 2):
            connection = self._checkout(target.origin) if attempt == 1 else None  # the retry: a new connection
            reused = connection is not None
            if connection is None:
                connection = await self._connect(loop, target.origin, deadline)
            try:
                await connection.exchange(head, body, method == "HEAD", cap, deadline)
            except _NoAnswer:
                connection.abort()
                if reused and attempt == 1 and method in _IDEMPOTENT:
                    continue
                raise
            except BaseException:
                connection.abort()
                raise
            self._checkin(connection)
            return connection
        raise AssertionError("unreachable")

    def _checkout(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if not connection.closed:
                return connection
        return None

    def _checkin(self, connection: _Connection) -> None:
        if not connection.reusable or connection.closed or self._closed:
            connection.close()
            return
        if self._idle_count >= self._limit:  # more idle than may ever be in use: let the oldest go
            for idle in self._idle.values():
                if idle:
                    idle.pop(0).close()
                    self._idle_count -= 1
                    break
        self._idle.setdefault(connection.origin, []).append(connection)
        self._idle_count += 1

    async def _connect(self, loop: asyncio.AbstractEventLoop, origin: _Origin, deadline: float) -> _Connection:
        context = _tls_context(self._verify_tls) if origin.tls else None
        label = "default" if (context is None or self._verify_tls) else "False"
        where = f"{origin.host}:{origin.port} ssl:{label}"
        try:
            async with asyncio.timeout_at(deadline):
                addresses = await self._resolve(loop, origin)
                last: OSError | None = None
                for family, address in addresses:
                    try:
                        _, connection = await loop.create_connection(
                            lambda: _Connection(loop, origin),
                            host=address[0],
                            port=address[1],
                            family=family,
                            ssl=context,
                            server_hostname=origin.host if context is not None else None,
                        )
                        return connection
                    except ssl.SSLError:
                        raise
                    except OSError as exc:
                        last = exc
                assert last is not None
                raise last
        except TimeoutError:
            raise  # the request's deadline (on 3.11 a TimeoutError is an OSError too)
        except socket.gaierror as exc:
            raise TransportError(f"ClientConnectorDNSError: Cannot connect to host {where} [{exc.strerror}]") from None
        except ssl.SSLCertVerificationError as exc:
            raise TransportError(
                f"ClientConnectorCertificateError: Cannot connect to host {origin.host}:{origin.port} ssl:True "
                f"[SSLCertVerificationError: {exc.args}]"
            ) from None
        except ssl.SSLError as exc:
            raise TransportError(f"ClientConnectorSSLError: Cannot connect to host {where} [{exc}]") from None
        except OSError as exc:
            raise TransportError(
                f"ClientConnectorError: Cannot connect to host {where} [{exc.strerror or exc}]"
            ) from None

    async def _resolve(self, loop: asyncio.AbstractEventLoop, origin: _Origin) -> list[tuple[Any, ...]]:
        """Addresses of a host, kept DNS_TTL_SECONDS (a pool opens new connections to the same host often)."""
        key = (origin.host, origin.port)
        cached = self._addresses.get(key)
        now = loop.time()
        if cached is not None and cached[0] > now:
            return cached[1]
        infos = await loop.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        addresses = [(family, sockaddr) for family, _, _, _, sockaddr in infos]
        if len(self._addresses) >= 1024:  # a run that reaches many hosts: keep the cache bounded
            self._addresses.clear()
        self._addresses[key] = (now + DNS_TTL_SECONDS, addresses)
        return addresses

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        self._idle_count = 0
        if self._via_proxy is not None:
            await self._via_proxy.close()
        await asyncio.sleep(0)


def open_transport(
    client: str = "http1", *, limit: int = 64, verify_tls: bool = True, proxy: str | None = None
) -> Http1Transport | AiohttpTransport:
    """The transport a run sends with: `client` is "http1" (the lean client) or "aiohttp"."""
    if client == "aiohttp":
        return AiohttpTransport(limit=limit, verify_tls=verify_tls, proxy=proxy)
    return Http1Transport(limit=limit, verify_tls=verify_tls, proxy=proxy)
