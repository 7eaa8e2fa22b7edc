"""The lean HTTP/1.1 client against raw sockets: what a target may do on the wire, and what the client does then.

The engine suite runs every flow on this client and on aiohttp (tests/engine/conftest.CLIENTS); these tests are
the wire-level cases a well-behaved aiohttp test server never produces: keep-alive reuse and a target closing
an idle connection, HEAD and 1xx responses, bodies that end with the connection, junk after a response,
headers that never end, and errors worded exactly as aiohttp words them.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from app.engine.http1 import INFLATE_STEP, MAX_HEAD_BYTES, Http1Transport
from app.engine.transport import AiohttpTransport, PreparedRequest, Transport, TransportError
from tests.local_server import self_signed_server_context

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Wire:
    """A raw TCP target: each connection is handed to `handler`; connections and request heads are counted."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.heads: list[bytes] = []
        self.url = ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        """One request's head and body (by Content-Length)."""
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return head, await reader.readexactly(length) if length else b""


@asynccontextmanager
async def wire(
    handler: Callable[[Wire, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[Wire]:
    target = Wire(lambda r, w: handler(target, r, w))
    server = await asyncio.start_server(target.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target.url = f"http://127.0.0.1:{port}"
    try:
        yield target
    finally:
        server.close()
        await server.wait_closed()


def ok(body: bytes = b"{}", *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def keep_answering(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        head, body = await target.read_request(reader)
        writer.write(ok(body or head.split(b"\r\n")[0]))
        await writer.drain()


def get(
    url: str, method: str = "GET", body: bytes | None = None, headers: list[tuple[str, str]] | None = None
) -> PreparedRequest:
    return PreparedRequest(method, url, headers or [], body)


@pytest.fixture
async def client() -> AsyncIterator[Http1Transport]:
    transport = Http1Transport()
    yield transport
    await transport.close()


async def test_one_keep_alive_connection_carries_many_requests(client: Http1Transport):
    async with wire(keep_answering) as target:
        for n in range(20):
            response = await client.send(get(f"{target.url}/n/{n}", "POST", f"body {n}".encode()), 5.0)
            assert response.status == 200 and response.body == f"body {n}".encode()
        assert target.connections == 1
        head = target.heads[0].decode()
        assert head.startswith("POST /n/0 HTTP/1.1\r\n")
        for line in (f"Host: {target.url.removeprefix('http://')}", "User-Agent: Exile/0.1", "Content-Length: 6"):
            assert f"\r\n{line}\r\n" in head, head


async def test_concurrent_requests_open_one_connection_each_and_reuse_them(client: Http1Transport):
    async with wire(keep_answering) as target:
        for _ in range(3):
            await asyncio.gather(*(client.send(get(f"{target.url}/x"), 5.0) for _ in range(8)))
        assert target.connections == 8


async def test_an_idle_connection_the_target_closed_is_not_used_again(client: Http1Transport):
    async def one_answer_then_close(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await target.read_request(reader)
        writer.write(ok(b"once"))
        await writer.drain()

    async with wire(one_answer_then_close) as target:
        for method in ("GET", "POST", "GET"):
            response = await client.send(get(f"{target.url}/x", method), 5.0)
            assert response.body == b"once"
            await asyncio.sleep(0.05)  # the target's FIN arrives while the connection is idle
        assert target.connections == 3


async def test_a_reused_connection_closed_under_a_get_is_retried_once_but_a_post_is_not(client: Http1Transport):
    # The target keeps the connection, reads the next request, then hangs up without answering: the race of an
    # idle timeout. GET is sent again on a new connection; POST may have been acted on and is not.
    async def answer_first_only(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await target.read_request(reader)
        writer.write(ok(b"first"))
        await writer.drain()
        await target.read_request(reader)  # then close without a byte

    async with wire(answer_first_only) as target:
        assert (await client.send(get(f"{target.url}/a"), 5.0)).body == b"first"
        assert (await client.send(get(f"{target.url}/b"), 5.0)).body == b"first"  # retried on connection 2
        assert target.connections == 2
        with pytest.raises(TransportError) as failed:
            await client.send(get(f"{target.url}/c", "POST", b"pay"), 5.0)
        assert str(failed.value) == (
            "the target closed the connection without answering (ServerDisconnectedError: Server disconnected)"
        )
        assert target.connections == 2


async def test_head_and_informational_responses_end_where_they_should(client: Http1Transport):
    async def answers(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await target.read_request(reader)
            if head.startswith(b"HEAD"):  # announces a body it never sends
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nX-Kind: head\r\n\r\n")
            else:
                writer.write(
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + ok(b"real")
                )
            await writer.drain()

    async with wire(answers) as target:
        head = await asyncio.wait_for(client.send(get(f"{target.url}/h", "HEAD"), 5.0), 2.0)
        assert head.status == 200 and head.body == b"" and head.header("x-kind") == "head"
        after = await client.send(get(f"{target.url}/g"), 5.0)
        assert after.status == 200 and after.body == b"real" and after.header("link") is None


async def test_a_body_without_length_ends_with_the_connection(client: Http1Transport):
    async def http10(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await target.read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()

    async with wire(http10) as target:
        for _ in range(2):
            response = await client.send(get(f"{target.url}/x"), 5.0)
            assert response.body == b"until the end" and response.content_length is None
        assert target.connections == 2


async def test_junk_after_a_response_never_reaches_the_next_one(client: Http1Transport):
    async def junk(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await target.read_request(reader)
            writer.write(ok(b"mine") + ok(b"a second answer nobody asked for"))
            await writer.drain()

    async with wire(junk) as target:
        for _ in range(3):
            assert (await client.send(get(f"{target.url}/x"), 5.0)).body == b"mine"
        assert target.connections == 3  # each connection given up after its junk


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate"])
async def test_compressed_bodies_are_inflated_and_capped(client: Http1Transport, encoding: str):
    plain = b"0123456789" * 10_000
    if encoding == "gzip":
        packed = gzip.compress(plain)
    elif encoding == "deflate":
        packed = zlib.compress(plain)
    else:
        deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        packed = deflate.compress(plain) + deflate.flush()
    name = encoding.split()[-1]

    async def compressed(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await target.read_request(reader)
            writer.write(ok(packed, f"Content-Encoding: {name}"))
            await writer.drain()

    async with wire(compressed) as target:
        whole = await client.send(get(f"{target.url}/x"), 5.0)
        assert whole.body == plain and not whole.truncated and whole.content_length == len(packed)
        cut = await client.send(get(f"{target.url}/x"), 5.0, max_body_bytes=1234)
        assert cut.body == plain[:1234] and cut.truncated
        assert (await client.send(get(f"{target.url}/x"), 5.0)).body == plain
        assert target.connections == 2  # a capped response's connection is closed, never drained
        assert b"\r\nAccept-Encoding: gzip, deflate\r\n" in target.heads[0]


async def test_headers_that_never_end_are_cut_off(client: Http1Transport):
    async def endless(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await target.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        while True:
            writer.write(b"a" * 65536)
            await writer.drain()

    async with wire(endless) as target:
        with pytest.raises(TransportError) as failed:
            await client.send(get(f"{target.url}/x"), 10.0)
        assert str(failed.value) == f"the target's response headers exceed {MAX_HEAD_BYTES // 1024} KiB"


async def test_a_response_that_is_not_http_is_an_error_that_says_so(client: Http1Transport):
    async def garbage(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await target.read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async with wire(garbage) as target:
        with pytest.raises(TransportError) as failed:
            await client.send(get(f"{target.url}/x"), 5.0)
        assert str(failed.value).startswith("the target's response is not valid HTTP/1.1 (")


async def test_a_response_slower_than_the_timeout_times_out(client: Http1Transport):
    async def trickle(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await target.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with wire(trickle) as target:
        with pytest.raises(TransportError) as failed:
            await client.send(get(f"{target.url}/x"), 0.2)
        assert str(failed.value) == "timed out after 200 ms"


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Evil", "a\r\nInjected: yes"), ("X-Evil", "a\nb"), ("Bad Name", "v"), ("X:Colon", "v"), ("", "v")],
)
async def test_a_header_that_would_split_the_request_is_refused(client: Http1Transport, name: str, value: str):
    async with wire(keep_answering) as target:
        with pytest.raises(TransportError) as failed:
            await client.send(get(f"{target.url}/x", headers=[(name, value)]), 5.0)
        assert str(failed.value).startswith("ValueError: the request header")
        assert target.connections == 0


async def test_credentials_in_the_url_become_basic_auth_unless_the_request_has_its_own(client: Http1Transport):
    async with wire(keep_answering) as target:
        with_user = target.url.replace("http://", "http://ann:s%20cret@")
        await client.send(get(f"{with_user}/x"), 5.0)
        await client.send(get(f"{with_user}/x", headers=[("Authorization", "Bearer t")]), 5.0)
        assert b"\r\nAuthorization: Basic YW5uOnMgY3JldA==\r\n" in target.heads[0]
        assert b"Basic" not in target.heads[1] and b"\r\nAuthorization: Bearer t\r\n" in target.heads[1]


async def _failure(transport: Transport, request: PreparedRequest) -> str:
    try:
        await transport.send(request, 5.0)
    except TransportError as exc:
        return str(exc)
    raise AssertionError("no error")


async def test_connection_errors_read_as_aiohttps_word_for_word():
    # Run records, failure clusters and the explain rules hold aiohttp's texts: the switch must not split them.
    async def reset(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await target.read_request(reader)
        writer.transport.abort()

    async def hang_up(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await target.read_request(reader)

    lean, reference = Http1Transport(), AiohttpTransport()
    try:
        refused = get("http://127.0.0.1:1/x")
        assert await _failure(lean, refused) == await _failure(reference, refused)
        assert (await _failure(lean, refused)).startswith("ClientConnectorError: Cannot connect to host 127.0.0.1:1")
        unknown = get("http://no-such-host.invalid/x")
        assert await _failure(lean, unknown) == await _failure(reference, unknown)
        for handler in (reset, hang_up):
            async with wire(handler) as target:
                request = get(f"{target.url}/x", "POST", b"{}")
                assert await _failure(lean, request) == await _failure(reference, request)
    finally:
        await lean.close()
        await reference.close()


async def test_tls_is_verified_unless_the_environment_turns_it_off(tmp_path: Path):
    context = self_signed_server_context(tmp_path, "localhost")
    target = Wire(lambda r, w: keep_answering(target, r, w))
    server = await asyncio.start_server(target.serve, "127.0.0.1", 0, ssl=context)
    url = f"https://localhost:{server.sockets[0].getsockname()[1]}/secure"
    verified, unverified, reference = Http1Transport(), Http1Transport(verify_tls=False), AiohttpTransport()
    try:
        error = await _failure(verified, get(url))
        assert error.startswith("ClientConnectorCertificateError: Cannot connect to host localhost:")
        assert "CERTIFICATE_VERIFY_FAILED" in error and error == await _failure(reference, get(url))
        for _ in range(2):
            response = await unverified.send(get(url), 5.0)
            assert response.status == 200 and response.body == b"GET /secure HTTP/1.1"
        assert target.connections == 1  # one kept-alive connection (refused handshakes never reach the handler)
    finally:
        await reference.close()
        await verified.close()
        await unverified.close()
        server.close()
        await server.wait_closed()


async def test_a_proxied_request_goes_through_the_proxy():
    async def forward_proxy(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await target.read_request(reader)
            writer.write(ok(b"via proxy: " + head.split(b" ")[1]))
            await writer.drain()

    async with wire(forward_proxy) as proxy:
        transport = Http1Transport(proxy=proxy.url)
        try:
            response = await transport.send(get("http://shop.example/orders?x=1"), 5.0)
        finally:
            await transport.close()
        assert response.body == b"via proxy: http://shop.example/orders?x=1"


def test_the_client_runs_on_uvloop_as_under_uvicorn():
    # The API process runs on uvloop (uvicorn picks it): its transports are not asyncio's classes.
    uvloop = pytest.importorskip("uvloop")

    async def on_uvloop() -> list[bytes]:
        async with wire(keep_answering) as target:
            transport = Http1Transport()
            try:
                bodies = [(await transport.send(get(f"{target.url}/n", "POST", b"%d" % n), 5.0)).body for n in range(5)]
                bodies.append((await transport.send(get(f"{target.url}/h", "HEAD"), 5.0)).body)
                return [*bodies, str(target.connections).encode()]
            finally:
                await transport.close()

    assert uvloop.run(on_uvloop()) == [b"0", b"1", b"2", b"3", b"4", b"", b"1"]


async def test_a_large_compressed_body_is_inflated_a_step_per_loop_turn(client: Http1Transport):
    # One read of a gzip bomb inflates to megabytes: done at once, the other runs and /health would wait.
    plain = bytes(range(256)) * 40_000  # 10 MB
    packed = gzip.compress(plain, 1)

    async def compressed(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await target.read_request(reader)
            writer.write(ok(packed, "Content-Encoding: gzip"))
            await writer.drain()

    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async with wire(compressed) as target:
        await client.send(get(f"{target.url}/warm"), 5.0)
        running = asyncio.ensure_future(ticker())
        before = ticks
        response = await client.send(get(f"{target.url}/x"), 5.0, max_body_bytes=len(plain) + 1)
        stop.set()
        await running
        assert response.body == plain and not response.truncated
        assert ticks - before >= len(plain) // INFLATE_STEP  # the loop turned at least once per step
        assert (await client.send(get(f"{target.url}/y"), 5.0)).body == plain[: 10 * 1024 * 1024]
        assert target.connections == 1  # paused and resumed, the connection stays usable


async def test_junk_after_a_compressed_response_still_inflating_is_never_read_into_it(client: Http1Transport):
    plain = b"z" * (3 * INFLATE_STEP)  # inflated over several loop turns: the junk arrives meanwhile
    packed = gzip.compress(plain)
    junk = (
        b"HTTP/1.1 404 Evil\r\nSet-Cookie: s=evil\r\nContent-Length: 0\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
    )

    async def answers(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await target.read_request(reader)
            writer.write(ok(packed, "Content-Encoding: gzip") + junk)
            await writer.drain()

    async with wire(answers) as target:
        for _ in range(2):
            response = await client.send(get(f"{target.url}/x"), 5.0)
            assert response.status == 200 and response.body == plain and not response.truncated
            assert response.header("set-cookie") is None
        assert target.connections == 2  # the connection with junk on it was not used again


async def test_a_deadline_that_passes_while_connecting_reads_as_a_timeout(client: Http1Transport):
    async with wire(keep_answering) as target:
        with pytest.raises(TransportError) as failed:
            await client.send(get(f"{target.url}/x"), 0.0)
        assert str(failed.value) == "timed out after 0 ms"


async def test_trailers_are_not_headers_and_never_grow_without_bound(client: Http1Transport):
    async def trailer(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await target.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n")
        if b"/endless" in head:
            writer.write(b"X-Endless: ")
            while True:
                writer.write(b"a" * 65536)
                await writer.drain()
        writer.write(b"Set-Cookie: sid=evil\r\n\r\n")
        await writer.drain()

    async with wire(trailer) as target:
        response = await client.send(get(f"{target.url}/t"), 5.0)
        assert response.body == b"body" and response.header("set-cookie") is None
        with pytest.raises(TransportError) as failed:
            await client.send(get(f"{target.url}/endless"), 10.0)
        assert str(failed.value) == f"the target's chunked trailers exceed {MAX_HEAD_BYTES // 1024} KiB"


async def test_the_retry_after_a_dead_pooled_connection_takes_a_new_one_not_another_pooled_one(
    client: Http1Transport,
):
    async def answer_first_only(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await target.read_request(reader)
        writer.write(ok(b"first"))
        await writer.drain()
        await target.read_request(reader)  # then hang up without answering

    async with wire(answer_first_only) as target:
        await asyncio.gather(*(client.send(get(f"{target.url}/a"), 5.0) for _ in range(2)))  # two pooled
        assert target.connections == 2
        assert (await client.send(get(f"{target.url}/b"), 5.0)).body == b"first"
        assert target.connections == 3


async def test_a_body_whose_last_transfer_coding_is_not_chunked_ends_with_the_connection(client: Http1Transport):
    async def framed(target: Wire, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await target.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()

    async with wire(framed) as target:
        response = await client.send(get(f"{target.url}/x"), 5.0)
        assert response.body == b"until the end"
