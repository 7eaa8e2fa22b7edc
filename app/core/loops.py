"""The event loop our own processes run on: uvloop where it is installed, as uvicorn's `--loop auto` picks.

The API process already runs on uvicorn's choice; the processes we start ourselves (the run pool's, a Celery
task's thread, `exile run`) take the same one, so a run costs the same CPU wherever it executes. uvloop cut the
engine's CPU per request by about 15 % on the order flow (benchmarks/order_flow.py runs both on it).
EVENT_LOOP=asyncio is the way back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from app.core.config import get_settings

T = TypeVar("T")


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the loop `choice` names ("auto", "asyncio", "uvloop")."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:  # Windows, or a build without it: asyncio's own loop
            if choice == "uvloop":
                raise
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def new_event_loop() -> asyncio.AbstractEventLoop:
    return loop_factory(get_settings().event_loop)()


def run(work: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on our loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(work)


async def wait_for_tasks(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Wait until these tasks are done, whichever loop each runs on (inline runs have a thread and loop of their
    own: app.runs.dispatch.RunsThread); never cancels them."""
    here = asyncio.get_running_loop()
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Task[Any]]] = {}
    for task in tasks:
        by_loop.setdefault(task.get_loop(), []).append(task)
    waits: list[asyncio.Future[Any]] = []
    for loop, group in by_loop.items():
        if loop is here:
            waits.append(asyncio.ensure_future(asyncio.wait(group)))
        elif not loop.is_closed():
            waits.append(asyncio.wrap_future(asyncio.run_coroutine_threadsafe(asyncio.wait(group), loop)))
    if waits:
        await asyncio.wait(waits)
