"""What every part of a run reads to stop in time: the clock, the cancel signal and the run's deadline."""

from __future__ import annotations

import asyncio

from app.engine.clock import Clock
from app.engine.specs import RetrySpec


class RunControl:
    """The run's clock, cancel signal and deadline; the engine's own waits (backoff, poll, wait) go through it."""

    __slots__ = ("cancel", "clock", "deadline", "expired", "stop_reason")

    def __init__(self, clock: Clock, cancel: asyncio.Event) -> None:
        self.clock = clock  # every wait, deadline, duration and timestamp of the run reads it
        self.cancel = cancel
        self.deadline = float("inf")  # the run's timeout on the clock (set when the run starts)
        self.expired = asyncio.Event()  # an engine wait reached that deadline
        self.stop_reason = "cancelled"  # what a request abandoned in flight is recorded with

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    async def sleep(self, seconds: float) -> None:
        """Wait on the clock; a wait that would outlast the run ends the run at its deadline instead."""
        remaining = self.deadline - self.clock.now()
        if seconds < remaining:
            await self.clock.sleep(seconds)
            return
        await self.clock.sleep(max(remaining, 0.0))
        self.expired.set()
        await asyncio.Future()  # FlowRunner.run times the run out: it cancels the work, and this wait with it

    async def backoff(self, retry: RetrySpec, attempt: int) -> None:
        """The wait before retry number `attempt` (1-based): backoff_ms, times backoff_factor per retry, capped."""
        delay = min(retry.backoff_ms * retry.backoff_factor ** (attempt - 1), retry.max_backoff_ms)
        if delay > 0:
            await self.sleep(delay / 1000)
