"""A fake clock for engine tests: sleeps advance virtual time at once and are recorded.

Time is kept in whole nanoseconds, so sums of intervals compare exactly (6 x 20 ms is 120 ms, not
0.12000000000000001 s). Only the engine's own waits move it: a request takes no virtual time. Meant for
runs at concurrency 1, where one task sleeps at a time (concurrent sleeps would add up, not overlap).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

START = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.elapsed_ns = 0
        self.sleeps: list[float] = []  # every requested sleep, in seconds, in order

    def now(self) -> float:
        return self.elapsed_ns / 1e9

    def wall(self) -> datetime:
        return self.start + timedelta(microseconds=self.elapsed_ns // 1000)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed_ns += max(0, round(seconds * 1e9))
        await asyncio.sleep(0)  # still a point where the task can be cancelled, as a real sleep is

    @property
    def sleeps_ms(self) -> list[float]:
        """The recorded sleeps in milliseconds, rounded to the microsecond (what tests compare)."""
        return [round(seconds * 1000, 3) for seconds in self.sleeps]
