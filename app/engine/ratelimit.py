"""The per-host rate limit the runner waits on before every send.

The runner only knows the `RateLimiter` interface: `acquire(key)` returns when one more request to that key
(the target's host) may go. `LocalRateLimiter` is the in-process limiter (one bucket per key, what a single
process running the whole run needs); a limiter shared by several processes or workers running chunks of the
same run lives outside the engine (app/runs/rate_limit.py keeps its bucket in Redis).
"""

from __future__ import annotations

from typing import Protocol

from aiolimiter import AsyncLimiter

from app.engine.specs import RateLimit


class RateLimiter(Protocol):
    async def acquire(self, key: str) -> None:
        """Wait until one more request to `key` (a host) is within the budget, and take it."""
        ...


class LocalRateLimiter:
    """`per_second` requests a second per key, `burst` of them at once (a leaky bucket per key, this process)."""

    __slots__ = ("_buckets", "burst", "per_second")

    def __init__(self, per_second: float, burst: int | None = None) -> None:
        self.per_second = float(per_second)
        self.burst = float(burst or 1)
        self._buckets: dict[str, AsyncLimiter] = {}

    async def acquire(self, key: str) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = AsyncLimiter(self.burst, self.burst / self.per_second)
        await bucket.acquire()


def local_limiter(rate: RateLimit | None) -> LocalRateLimiter | None:
    """The in-process limiter for a run's `rate_limit` setting; None when it sets none."""
    if rate is None or not rate.per_second:
        return None
    return LocalRateLimiter(rate.per_second, rate.burst)
