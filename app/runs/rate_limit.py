"""A run's per-host rate limit shared by every process and worker running chunks of it: a token bucket in Redis.

One Lua script takes a token atomically: it refills the bucket from the time elapsed since the last call
(the time is Redis' own `TIME`, so callers' clocks never matter), takes one token and, when the bucket is
empty, lets the token go negative and answers how long the caller must wait for it (a reservation: callers
are served in the order they reach Redis, one round trip per request). The script is sent once per limiter
(`EVAL` when Redis answers NOSCRIPT to `EVALSHA`). The bucket key is per run and host and expires once it
would be full again, so nothing is left behind.

When Redis cannot be reached the run does not fail: the limiter warns once and falls back to the in-process
limiter (per process), trying Redis again after `RETRY_SECONDS`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from app.engine.ratelimit import LocalRateLimiter, RateLimiter, local_limiter
from app.engine.specs import RateLimit

logger = logging.getLogger("exile.runs.rate_limit")

RETRY_SECONDS = 10.0  # after Redis failed, the in-process limiter is used this long before Redis is tried again
KEY_PREFIX = "exile:rate"

# KEYS[1] the bucket; ARGV[1] tokens a second, ARGV[2] burst (the bucket's size).
# Answers the microseconds the caller must wait before its request goes (0: at once).
TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000000)
  at = now
end
tokens = tokens - 1
local wait = 0
if tokens < 0 then
  wait = math.ceil(-tokens * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', at)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return wait
"""
TOKEN_BUCKET_SHA = hashlib.sha1(TOKEN_BUCKET.encode()).hexdigest()

_UNREACHABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


class RedisRateLimiter:
    """`per_second` requests a second per host for one run, `burst` at once, across every process sharing `url`."""

    def __init__(
        self, url: str, run_id: int | str, per_second: float, burst: int | None = None, *, timeout: float = 2.0
    ) -> None:
        self.run_id = run_id
        self.per_second = float(per_second)
        self.burst = int(burst or 1)
        self.redis: Redis = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        self.script_sends = 0  # how many times this limiter sent the script's text (EVAL): once, at most
        self._fallback = LocalRateLimiter(per_second, burst)
        self._redis_again_at = 0.0  # while Redis is unreachable: when to try it again (time.monotonic)
        self._warned = False

    def key(self, host: str) -> str:
        return f"{KEY_PREFIX}:{self.run_id}:{host}"

    async def reserve(self, host: str) -> float:
        """Take one token from the host's shared bucket; the seconds to wait before using it (0: at once)."""
        args = (self.key(host), self.per_second, self.burst)
        try:
            waited = await self.redis.evalsha(TOKEN_BUCKET_SHA, 1, *args)
        except redis_errors.NoScriptError:
            self.script_sends += 1
            waited = await self.redis.eval(TOKEN_BUCKET, 1, *args)
        return int(waited) / 1_000_000

    async def acquire(self, key: str) -> None:
        if self._redis_again_at and time.monotonic() < self._redis_again_at:
            await self._fallback.acquire(key)
            return
        try:
            wait = await self.reserve(key)
        except _UNREACHABLE as exc:
            self._redis_again_at = time.monotonic() + RETRY_SECONDS
            if not self._warned:
                self._warned = True
                logger.warning(
                    "run %s: the shared rate limit's Redis is unreachable (%s: %s); "
                    "each process limits its own requests instead until it is back",
                    self.run_id,
                    type(exc).__name__,
                    exc,
                )
            await self._fallback.acquire(key)
            return
        self._redis_again_at = 0.0
        if wait > 0:
            await asyncio.sleep(wait)

    async def close(self) -> None:
        try:
            await self.redis.aclose()
        except Exception as exc:  # closing a broken connection must not fail the run
            logger.debug("closing the rate limit's Redis client failed: %s", exc)


def is_redis_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("redis://", "rediss://", "unix://"))


def run_limiter(redis_url: str | None, run_id: int | str, rate: RateLimit | None) -> RateLimiter | None:
    """The limiter a run's executor hands the engine: shared through Redis when there is a Redis URL.

    None when the run sets no rate limit; the in-process limiter when there is no Redis.
    """
    if rate is None or not rate.per_second:
        return None
    if not is_redis_url(redis_url):
        return local_limiter(rate)
    assert redis_url is not None
    try:
        return RedisRateLimiter(redis_url, run_id, rate.per_second, rate.burst)
    except ValueError as exc:  # a URL redis-py cannot read: the run still runs, limited in this process
        logger.warning(
            "run %s: the shared rate limit cannot use %r (%s); limiting in this process", run_id, redis_url, exc
        )
        return local_limiter(rate)


async def close_limiter(limiter: RateLimiter | None) -> None:
    if isinstance(limiter, RedisRateLimiter):
        await limiter.close()
