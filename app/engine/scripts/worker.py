"""The script sandbox's own process: V8 (mini-racer) with the runtime loaded, answering compile and run requests
over its stdin and stdout (a 4-byte big-endian length, then JSON; see sandbox.py).

V8 lives here, not in the server: a builtin that allocates without end (`new Array(2 ** 27).fill(0)`) cannot be
interrupted by V8's own limits and ends the process it runs in. Here that is this process, which the sandbox
replaces; its heap is capped by V8's flags, so such a script dies early instead of taking the machine's memory.
"""

from __future__ import annotations

import os
import resource
import struct
import sys
from pathlib import Path

RUNTIME_FILES = ("crypto.js", "moment.js", "schema.js", "expect.js", "lodash.js", "pm.js", "lockdown.js")
JS_DIR = Path(__file__).parent / "js"
_LENGTH = struct.Struct(">I")


def read_frame(stream: object) -> bytes | None:
    head = _read_exactly(stream, 4)
    if head is None:
        return None
    return _read_exactly(stream, _LENGTH.unpack(head)[0])


def _read_exactly(stream: object, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)  # type: ignore[attr-defined]
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_frame(stream: object, payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)) + payload)  # type: ignore[attr-defined]
    stream.flush()  # type: ignore[attr-defined]


def main() -> int:
    import asyncio

    return asyncio.run(_serve())


async def _serve() -> int:
    """Requests one at a time. Made inside this running event loop, mini-racer answers on it: no thread of its
    own between us and V8 (its sync API costs two more thread hops a call), and the script's answer (a JSON
    string) comes back as it is, not JSON-encoded again."""
    import asyncio

    import orjson
    from py_mini_racer import JSOOMException, MiniRacer, init_mini_racer

    heap_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    data_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if data_mb:  # ArrayBuffers live outside V8's heap: the process's writable memory is what bounds them
        try:
            resource.setrlimit(resource.RLIMIT_DATA, (data_mb * 1024 * 1024, data_mb * 1024 * 1024))
        except (ValueError, OSError):
            pass
    init_mini_racer(flags=("--single-threaded", f"--max-old-space-size={heap_mb}"))
    context = MiniRacer()
    for name in RUNTIME_FILES:
        await asyncio.wait_for(context.eval_cancelable((JS_DIR / name).read_text(encoding="utf-8")), 10)
    incoming, outgoing = os.fdopen(0, "rb", buffering=0), os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing printed by V8 or a library can corrupt the answers
    write_frame(outgoing, b'{"ready":true}')
    memory_limit = 0
    # Blocking reads on this loop are fine: between requests nothing else is waiting on it.
    while (frame := read_frame(incoming)) is not None:
        request = orjson.loads(frame)
        answer: dict[str, object]
        try:
            if request["op"] == "compile":
                call, seconds = f"__exile_compile({_literal(request['id'])}, {_literal(request['source'])})", 5.0
            else:
                if request["op"] == "batch":  # one call into V8 for many scripts: the call is what costs
                    runs = ", ".join(
                        f"__exile_execute({_literal(i)}, {_literal(data)})" for i, data in request["items"]
                    )
                    call = f"JSON.stringify([{runs}])"
                else:
                    call = f"__exile_execute({_literal(request['id'])}, {_literal(request['input'])})"
                seconds = request["time_ms"] / 1000
                if request["memory_bytes"] != memory_limit:
                    memory_limit = request["memory_bytes"]
                    context.set_hard_memory_limit(memory_limit)
            answer = {"ok": await asyncio.wait_for(context.eval_cancelable(call), seconds)}
        except TimeoutError:
            answer = {"limit": "time"}
        except JSOOMException:
            answer = {"limit": "memory"}
        except Exception as exc:
            if context.was_hard_memory_limit_reached():
                answer = {"limit": "memory"}
            else:
                answer = {"failed": f"{type(exc).__name__}: {exc}"}
        write_frame(outgoing, orjson.dumps(answer))
        if "limit" in answer:
            return 0  # a terminated script may still run inside a builtin: this process is not used again
    return 0


def _literal(text: str) -> str:
    """A JavaScript string literal: JSON's (V8 takes U+2028 and U+2029 in strings since ES2019)."""
    import orjson

    return orjson.dumps(text).decode()


if __name__ == "__main__":
    sys.exit(main())
