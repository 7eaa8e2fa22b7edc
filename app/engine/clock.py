"""The clock the engine is handed: the time its own waits and deadlines read.

Retry backoff, poll intervals, `wait` processors, the poll and run deadlines, the redirect chain's timeout
budget and every recorded duration and timestamp go through it, so a test can hand the engine a fake clock
and assert on exact sleeps instead of wall time. Network I/O timeouts stay on the real event loop.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds (only differences mean anything): durations and deadlines."""
        ...

    def wall(self) -> datetime:
        """The current time, timezone-aware UTC: what records are stamped with."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait this long (the engine's own waits; cancellable like asyncio.sleep)."""
        ...


class SystemClock:
    """The real clock: time.monotonic, datetime.now(UTC) and asyncio.sleep."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
