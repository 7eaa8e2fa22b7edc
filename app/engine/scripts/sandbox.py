"""Postman-style scripts in V8 (mini-racer), in a process of their own (worker.py) that holds the runtime (js/,
loaded once): each script is compiled once by the hash of its source, and each run of it gets fresh `pm` objects
from the JSON handed in. What crosses the boundary is JSON only (CONTRACT.md): V8 has no network, no files and no
way back into Python.

A script that breaks the time or memory limit ends with ScriptLimitError and its process is replaced (a fresh one
starts for the next script), so nothing a runaway script left behind reaches another, and the server never shares
a fate with V8.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import select
import subprocess
import sys
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from app.engine.scripts.worker import read_frame, write_frame
from app.engine.specs import MAX_SCRIPT_CHARS

# The runtime's own heap is part of the context's: the limit a script gets is on top of what loading took.
_RUNTIME_HEAP_ALLOWANCE = 32 * 1024 * 1024
# V8's whole heap in the script process, beyond a script's own limit: a builtin that allocates past every limit
# (V8 cannot interrupt `new Array(2 ** 27).fill(0)`) ends that process soon after the limit, not at gigabytes.
_HEAP_HEADROOM_MB = 64
# The script process's writable memory (RLIMIT_DATA): V8 reserves several hundred MB up front, and what is left
# bounds the ArrayBuffers a script allocates outside V8's heap (a 1 GB typed array is a RangeError, not 1 GB).
_DATA_BASE_MB = 1024
_GRACE_SECONDS = 2.0
_BATCH = 32  # scripts sent to the process in one message
_PROJECT_ROOT = Path(__file__).resolve().parents[3]


class ScriptError(Exception):
    """The script could not run to its end for a reason outside it (a limit, a runtime that broke)."""


class ScriptLimitError(ScriptError):
    pass


class ScriptSyntaxError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ScriptLimits:
    time_ms: int = 1000
    memory_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CompiledScript:
    id: str
    source: str
    unsupported: tuple[str, ...] = ()


@dataclass(slots=True)
class ScriptRun:
    """What one run of a script produced (CONTRACT.md's output)."""

    tests: list[dict[str, Any]] = field(default_factory=list)
    set: dict[str, Any] = field(default_factory=dict)
    set_scopes: dict[str, str] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)
    request: dict[str, Any] | None = None
    next: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    unsupported: str | None = None
    logs: list[str] = field(default_factory=list)
    secret_read: bool = False

    @classmethod
    def from_output(cls, output: dict[str, Any]) -> ScriptRun:
        return cls(
            tests=list(output.get("tests") or []),
            set=dict(output.get("set") or {}),
            set_scopes=dict(output.get("setScopes") or {}),
            unset=list(output.get("unset") or []),
            request=output.get("request"),
            next=output.get("next"),
            error=output.get("error"),
            unsupported=output.get("unsupported"),
            logs=list(output.get("logs") or []),
            secret_read=bool(output.get("secretRead")),
        )


def script_id(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(slots=True)
class _Pending:
    script: CompiledScript
    data: str
    limits: ScriptLimits
    answer: asyncio.Future[str]

    @property
    def call(self) -> tuple[CompiledScript, str, ScriptLimits]:
        return self.script, self.data, self.limits


class Sandbox:
    """This process's script sandbox: a process of its own running V8 (worker.py), driven from one thread of ours
    (the engine awaits `run_async` meanwhile). A script that breaks a limit, or kills that process, costs only
    that process: it is replaced before the next script runs.
    """

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exile-scripts")
        self._process: subprocess.Popen[bytes] | None = None
        self._in_process: set[str] = set()  # script ids the current process has compiled
        self._compiled: dict[str, CompiledScript] = {}
        self._heap_mb = 0
        self._io = threading.Lock()  # whoever talks to the process: the sandbox's thread or an event loop
        self._in_flight: list[_Pending] = []  # the batch the process is running
        # Per event loop: the scripts waiting to be sent, and the task sending them.
        self._waiting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[_Pending]] = (
            weakref.WeakKeyDictionary()
        )
        self._pumps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
            weakref.WeakKeyDictionary()
        )

    def compile(self, source: str) -> CompiledScript:
        """The script compiled (once per distinct source); ScriptSyntaxError if it does not parse."""
        if len(source) > MAX_SCRIPT_CHARS:
            raise ScriptSyntaxError(f"a script is at most {MAX_SCRIPT_CHARS} characters (this one has {len(source)})")
        known = self._compiled.get(script_id(source))
        if known is not None:
            return known
        return self._thread.submit(self._compile, source).result()

    async def run_async(self, script: CompiledScript, payload: dict[str, Any], limits: ScriptLimits) -> ScriptRun:
        """Run a compiled script on one request's data (ScriptLimitError names a limit it broke); the event loop
        goes on with other requests while it runs.

        The scripts this event loop's requests wait on go to the process together (one message, one call into
        V8 for all of them: the call, not the script, is what costs), straight from this loop when the process
        is up and idle; otherwise (starting it, compiling again, another thread using it, a batch that broke a
        limit: then each script alone, so the limit is charged to the script that broke it) through the thread.
        """
        data = orjson.dumps(payload, default=_json_fallback).decode()
        loop = asyncio.get_running_loop()
        waiting = self._waiting.get(loop)
        if waiting is None:
            waiting = self._waiting[loop] = []
        pending = _Pending(script, data, limits, loop.create_future())
        waiting.append(pending)
        if len(waiting) == 1 and loop not in self._pumps:
            self._pumps[loop] = loop.create_task(self._pump(loop, waiting))
        try:
            raw = await pending.answer
        except asyncio.CancelledError:
            if pending in self._in_flight and self._process is not None:
                self._process.kill()  # its run is over: the rest of its batch is run again without it
            raise
        return ScriptRun.from_output(orjson.loads(raw))

    async def _pump(self, loop: asyncio.AbstractEventLoop, waiting: list[_Pending]) -> None:
        try:
            while waiting:
                batch = [p for p in waiting[:_BATCH] if not p.answer.done()]
                del waiting[:_BATCH]
                if not batch:
                    continue
                try:
                    answers = await self._answer(loop, batch)
                except Exception as exc:
                    answers = [exc] * len(batch)
                for pending, answer in zip(batch, answers, strict=True):
                    if pending.answer.done():  # its run was cancelled meanwhile
                        continue
                    if isinstance(answer, BaseException):
                        pending.answer.set_exception(answer)
                    else:
                        pending.answer.set_result(answer)
        finally:
            self._pumps.pop(loop, None)

    async def _answer(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> list[str | BaseException]:
        process, heap_mb = self._process, max(p.limits.memory_bytes for p in batch) // (1024 * 1024)
        ready = (
            process is not None
            and all(p.script.id in self._in_process for p in batch)
            and self._heap_mb >= heap_mb
            and self._io.acquire(blocking=False)
        )
        if ready:
            assert process is not None
            try:
                answers = await self._batch_from_loop(loop, process, batch)
            finally:
                self._io.release()
            if answers is not None:
                return answers
        outcomes: list[str | BaseException] = []
        for pending in batch:  # one at a time, through the thread: it starts and compiles what is missing
            if pending.answer.done():
                outcomes.append(ScriptError("cancelled"))  # never read: its run was cancelled
                continue
            self._in_flight = [pending]
            try:
                outcomes.append(await asyncio.wrap_future(self._thread.submit(self._run, *pending.call)))
            except Exception as exc:
                outcomes.append(exc)
            finally:
                self._in_flight = []
        return outcomes

    async def _batch_from_loop(
        self, loop: asyncio.AbstractEventLoop, process: subprocess.Popen[bytes], batch: list[_Pending]
    ) -> list[str | BaseException] | None:
        """The batch's answers, or None when it broke a limit (its process replaced: each is run again alone)."""
        assert process.stdin is not None and process.stdout is not None
        limits = ScriptLimits(
            max(p.limits.time_ms for p in batch), max(p.limits.memory_bytes for p in batch)
        )  # a batch of quick scripts is far inside one script's limits; a slow one makes the batch run alone
        request = {
            "op": "batch", "items": [[p.script.id, p.data] for p in batch], "time_ms": limits.time_ms,
            "memory_bytes": limits.memory_bytes + _RUNTIME_HEAP_ALLOWANCE,
        }  # fmt: skip
        descriptor = process.stdout.fileno()
        answered: asyncio.Future[None] = loop.create_future()
        frame: bytes | None = None
        self._in_flight = batch
        try:
            write_frame(process.stdin, orjson.dumps(request))
            loop.add_reader(descriptor, _settle_once, answered)
            late = loop.call_later(limits.time_ms / 1000 + _GRACE_SECONDS, _settle_once, answered)
            try:
                await answered
                frame = read_frame(process.stdout) if _readable(descriptor) else None  # None: the time ran out
            finally:
                late.cancel()
                loop.remove_reader(descriptor)
        except OSError:
            frame = None
        finally:
            self._in_flight = []
        answer = self._settle(frame, process, "memory")
        if "ok" not in answer:
            if len(batch) == 1:
                try:
                    _verdict(answer, batch[0].limits)
                except ScriptError as exc:
                    return [exc]
            return None
        raws: list[str] = orjson.loads(answer["ok"])
        return list(raws)

    def close(self) -> None:
        self._thread.submit(self._stop).result()

    # ---- in the sandbox's thread -------------------------------------------------------------------------------
    def _compile(self, source: str) -> CompiledScript:
        key = script_id(source)
        known = self._compiled.get(key)
        if known is not None:
            return known
        with self._io:
            answer = self._ask({"op": "compile", "id": key, "source": source}, 10.0)
            if "ok" not in answer:
                raise ScriptError(f"the script could not be compiled: {answer.get('failed') or answer}")
            verdict = orjson.loads(answer["ok"])
            if verdict.get("error"):
                raise ScriptSyntaxError(str(verdict["error"]))
            self._in_process.add(key)
        compiled = CompiledScript(key, source, tuple(verdict.get("unsupported") or ()))
        self._compiled[key] = compiled
        return compiled

    def _run(self, script: CompiledScript, data: str, limits: ScriptLimits) -> str:
        with self._io:
            if script.id not in self._in_process:  # a fresh process (the last one broke a limit): compile again
                self._ask({"op": "compile", "id": script.id, "source": script.source}, 10.0)
                self._in_process.add(script.id)
            request, seconds = _run_request(script, data, limits)
            answer = self._ask(request, seconds, dead_means="memory", heap_mb=limits.memory_bytes // (1024 * 1024))
            return _verdict(answer, limits)

    def _ask(
        self, request: dict[str, Any], seconds: float, dead_means: str = "failed", heap_mb: int = 64
    ) -> dict[str, Any]:
        """One request to the process and its answer; a process that died or went silent is replaced."""
        process = self._started(heap_mb)
        assert process.stdin is not None and process.stdout is not None
        try:
            write_frame(process.stdin, orjson.dumps(request))
            frame = _read_within(process.stdout, seconds)
        except OSError:
            frame = None
        return self._settle(frame, process, dead_means)

    def _settle(self, frame: bytes | None, process: subprocess.Popen[bytes], dead_means: str) -> dict[str, Any]:
        if frame is None:  # it died (V8 out of heap ends the process) or is stuck
            silent = process.poll() is None
            self._stop()
            if dead_means == "memory":
                return {"limit": "time"} if silent else {"limit": "memory"}
            return {"failed": "the script process stopped"}
        answer: dict[str, Any] = orjson.loads(frame)
        if "limit" in answer:
            self._stop()  # it exits by itself after a broken limit; a fresh one answers the next script
        return answer

    def _started(self, heap_mb: int) -> subprocess.Popen[bytes]:
        if self._process is not None and self._heap_mb < heap_mb:
            self._stop()  # a run with a larger memory limit than the process was started for
        if self._process is None or self._process.poll() is not None:
            self._in_process.clear()
            self._heap_mb = heap_mb
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app.engine.scripts.worker",
                    str(heap_mb + _HEAP_HEADROOM_MB),
                    str(_DATA_BASE_MB + 2 * heap_mb),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=_PROJECT_ROOT,
                # Nothing of the server's environment (its database URL, its secret key) reaches the process
                # that runs users' JavaScript; UTC, as the runtime's dates assume.
                env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "TZ": "UTC"},
                start_new_session=True,  # a terminal's Ctrl-C reaches the server, which stops this itself
            )
            assert process.stdout is not None
            if _read_within(process.stdout, 30.0) is None:
                process.kill()
                raise ScriptError("the script process did not start")
            self._process = process
        return self._process

    def _stop(self) -> None:
        process, self._process = self._process, None
        self._in_process.clear()
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()


def _readable(descriptor: int) -> bool:
    return bool(select.select([descriptor], [], [], 0)[0])


def _settle_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _run_request(script: CompiledScript, data: str, limits: ScriptLimits) -> tuple[dict[str, Any], float]:
    """The request for one run, and how long to wait for its answer: V8 stops the script at time_ms; past that
    and a grace the process is presumed stuck and replaced."""
    request = {
        "op": "run", "id": script.id, "input": data, "time_ms": limits.time_ms,
        "memory_bytes": limits.memory_bytes + _RUNTIME_HEAP_ALLOWANCE,
    }  # fmt: skip
    return request, limits.time_ms / 1000 + _GRACE_SECONDS


def _verdict(answer: dict[str, Any], limits: ScriptLimits) -> str:
    if "ok" in answer:
        return str(answer["ok"])
    if answer.get("limit") == "time":
        raise ScriptLimitError(f"the script ran longer than its time limit ({limits.time_ms} ms)")
    if answer.get("limit") == "memory":
        raise ScriptLimitError(
            f"the script used more memory than its limit ({limits.memory_bytes // (1024 * 1024)} MB)"
        )
    raise ScriptError(f"the script runtime failed: {answer.get('failed')}")


def _read_within(stream: IO[bytes], seconds: float) -> bytes | None:
    """One frame, or None when none came within `seconds` (or the process closed its end)."""
    ready, _, _ = select.select([stream], [], [], seconds)
    if not ready:
        return None
    return read_frame(stream)


def _json_fallback(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    return str(value)


_shared: Sandbox | None = None
_shared_lock = threading.Lock()


def shared_sandbox() -> Sandbox:
    """This process's sandbox (built on first use: a process that runs no scripts never starts V8)."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = Sandbox()
    return _shared


def _forget_in_child() -> None:
    # A forked child (exile run's shards, a Celery prefork worker) has neither the parent's sandbox thread nor a
    # right to its process: it starts its own on first use.
    global _shared, _shared_lock
    _shared, _shared_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)
