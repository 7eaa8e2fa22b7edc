"""A hostile HTTP target for the limits tests and benchmarks/hostile_targets.py (aiohttp, on 127.0.0.1).

Each endpoint sends what a broken or malicious server might: a gzip bomb (a 1 MiB block of zeros deflated once
and sent again and again, so the target itself never holds the expanded body), a large plain body, a chunked
body that never ends, a connection reset in the middle of a body, and text that makes a backtracking regex
engine take exponential time.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

from aiohttp import web

MIB = 1024 * 1024
PIECE = 1024 * 1024  # written at a time: large pieces keep the target itself cheap
# `^(a+)+$` against this takes Python's `re` 2^28 steps (tens of seconds); RE2 answers at once.
EVIL_TEXT = "a" * 28 + "!"


def _deflated_mib() -> tuple[bytes, bytes]:
    """One MiB of zeros as a raw-deflate block that can be repeated (the dictionary is reset after it)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(b"\0" * MIB) + deflate.flush(zlib.Z_FULL_FLUSH)
    return block, deflate.flush(zlib.Z_FINISH)  # the last block: empty, marked final


_BLOCK, _FINAL = _deflated_mib()
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def _crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """zlib's crc32_combine: the CRC-32 of A+B from those of A and B (zlib's Python module lacks it)."""
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # the operator for one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while len2:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
    return crc1 ^ crc2


_MIB_CRC = zlib.crc32(b"\0" * MIB)


@lru_cache
def _zeros_crc(mib: int) -> int:
    """CRC-32 of `mib` MiB of zeros by doubling, without reading a GiB (the gzip trailer of a bomb)."""
    crc, block, block_mib = 0, _MIB_CRC, 1
    while mib:
        if mib & 1:
            crc = _crc32_combine(crc, block, block_mib * MIB)
        block, block_mib = _crc32_combine(block, block, block_mib * MIB), block_mib * 2
        mib >>= 1
    return crc


class HostileTarget:
    """Counts what it was asked for; `url` is set once it listens."""

    def __init__(self) -> None:
        self.url = ""
        self.bomb_bytes_sent = 0  # compressed bytes of the last bomb written before the client hung up

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * MIB)  # /small takes what a test sends on (a 10 MiB page)
        app.router.add_get("/bomb", self.bomb)
        app.router.add_get("/plain", self.plain)
        app.router.add_get("/endless", self.endless)
        app.router.add_get("/reset", self.reset)
        app.router.add_get("/reset-mid-body", self.reset_mid_body)
        app.router.add_get("/evil", self.evil)
        app.router.add_get("/to", self.redirect)
        app.router.add_route("*", "/small", self.small)
        return app

    async def bomb(self, request: web.Request) -> web.StreamResponse:
        """`mib` MiB of zeros (default 1024: 1 GiB) sent gzip-compressed: about 1 KiB on the wire per MiB."""
        mib = int(request.query.get("mib", "1024"))
        response = web.StreamResponse(headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})
        await response.prepare(request)
        self.bomb_bytes_sent = 0
        await response.write(_GZIP_HEADER)
        for _ in range(mib):
            await response.write(_BLOCK)
            self.bomb_bytes_sent += len(_BLOCK)
        await response.write(_FINAL + struct.pack("<II", _zeros_crc(mib), (mib * MIB) & 0xFFFFFFFF))
        await response.write_eof()
        return response

    async def plain(self, request: web.Request) -> web.StreamResponse:
        """`mib` MiB (default 100) of text with its Content-Length, written a piece at a time."""
        size = int(request.query.get("mib", "100")) * MIB
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.content_length = size
        await response.prepare(request)
        piece = b"z" * PIECE
        for _ in range(size // PIECE):
            await response.write(piece)
        await response.write_eof()
        return response

    async def endless(self, request: web.Request) -> web.StreamResponse:
        """A chunked body that never ends (until the client hangs up)."""
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        piece = b"y" * PIECE
        while True:
            await response.write(piece)

    async def reset(self, request: web.Request) -> web.StreamResponse:
        """The connection is reset (TCP RST) before any response."""
        _abort_with_reset(request)
        await asyncio.sleep(1)
        return web.Response(text="never sent")

    async def reset_mid_body(self, request: web.Request) -> web.StreamResponse:
        """Headers and part of a 1 MiB body, then a reset."""
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.content_length = MIB
        await response.prepare(request)
        await response.write(b"r" * (MIB // 16))
        await asyncio.sleep(0.05)
        _abort_with_reset(request)
        await asyncio.sleep(1)
        return response

    async def evil(self, request: web.Request) -> web.Response:
        """Text on which `^(a+)+$` backtracks exponentially in Python's `re`."""
        return web.Response(text=EVIL_TEXT, content_type="text/plain")

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["url"])

    async def small(self, request: web.Request) -> web.Response:
        """A small JSON answer (the body sent is read and only its size said back)."""
        received = len(await request.read())
        return web.json_response({"received": received, "items": [1, 2]}, headers={"X-Trace": "t-1"})


def _abort_with_reset(request: web.Request) -> None:
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    if sock is not None:  # linger 0: close() sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


@asynccontextmanager
async def serve(target: HostileTarget, port: int = 0) -> AsyncIterator[HostileTarget]:
    runner = web.AppRunner(target.app(), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    target.url = f"http://127.0.0.1:{bound}"
    try:
        yield target
    finally:
        await runner.cleanup()
