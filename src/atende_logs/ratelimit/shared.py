"""Buckets in Redis, shared by every server process that names the same Redis.

Each bucket is one hash (``level``, ``at``) updated by one Lua script, so the read, the
refill and the take are atomic however many processes ask at once; the clock is Redis's
own (``TIME``), so processes whose clocks disagree still agree on the buckets. A bucket
expires once it would be full again: Redis holds only the keys active lately.

When Redis fails (down, unreachable, too slow) the limiter keeps working on this process's
own buckets for ``PAUSE_AFTER_FAILURE_S``, logs a warning, then tries Redis again. Failing
closed would turn a Redis outage into an API outage; failing wide open would drop the
protection exactly when something is already wrong. Per-process buckets keep every key
limited, at worst to its quota times the number of processes.

Beside the buckets, Redis keeps short notes (``remember``): that a key authenticated, so a
block of its address spares it in every process (``failures``). A note Redis cannot give
counts as absent, which only subjects the key to its address's block.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from atende_logs.ratelimit.bucket import EPSILON, Policy, Verdict, peek, verdict
from atende_logs.ratelimit.memory import MemoryBuckets

logger = logging.getLogger("atende_logs.ratelimit")

TIMEOUT_S = 0.25
"""Longest a connection or a script call may take before the process falls back."""
PAUSE_AFTER_FAILURE_S = 5.0
"""How long the process uses its own buckets after Redis failed, before trying again."""

# The bucket's level now, refilled since its last write: what both scripts start from.
_REFILL = """
local quota = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(state[1]) or quota
local at = tonumber(state[2]) or now
level = math.min(quota, level + math.max(0, now - at) * rate)
"""

# The arithmetic of bucket.consume, in Lua. Floats go out as strings: Redis turns a Lua
# number in a reply into an integer.
_CONSUME = (
    _REFILL
    + f"""
local allowed = 0
if level >= 1 - {EPSILON!r} then
    level = math.max(0, level - 1)
    allowed = 1
end
redis.call('HSET', KEYS[1], 'level', string.format('%.17g', level),
           'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((quota - level) / rate * 1000) + 1000)
return {{allowed, string.format('%.17g', level)}}
"""
)

# Read only: the level the bucket would have now, without taking or writing.
_PEEK = _REFILL + "return string.format('%.17g', level)\n"


class RedisBuckets:
    """Token buckets in Redis under ``prefix``, with ``fallback`` for when Redis fails."""

    def __init__(
        self,
        url: str,
        prefix: str,
        fallback: MemoryBuckets | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # No retries inside redis-py: one failed call is answered from the fallback at
        # once, instead of after redis-py's backoff.
        self._redis = Redis.from_url(
            url,
            socket_connect_timeout=TIMEOUT_S,
            socket_timeout=TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        self._consume = self._redis.register_script(_CONSUME)
        self._peek = self._redis.register_script(_PEEK)
        self._prefix = prefix
        self._fallback = fallback or MemoryBuckets()
        self._clock = clock
        self._paused_until = float("-inf")

    async def consume(self, key: str, policy: Policy) -> Verdict:
        if self._clock() < self._paused_until:
            return self._fallback.consume_now(key, policy)
        try:
            allowed, level = await self._consume(
                keys=[self._key(key, policy)], args=[policy.quota, policy.rate]
            )
        except (RedisError, OSError) as exc:
            self._pause(exc)
            return self._fallback.consume_now(key, policy)
        return verdict(float(level), bool(allowed), policy)

    async def peek(self, key: str, policy: Policy) -> Verdict:
        if self._clock() < self._paused_until:
            return self._fallback.peek_now(key, policy)
        try:
            level = await self._peek(
                keys=[self._key(key, policy)], args=[policy.quota, policy.rate]
            )
        except (RedisError, OSError) as exc:
            self._pause(exc)
            return self._fallback.peek_now(key, policy)
        return peek(float(level), 0.0, policy)

    async def remember(self, name: str, ttl_s: int) -> None:
        if self._clock() < self._paused_until:
            return
        try:
            await self._redis.set(self._prefix + name, b"1", ex=ttl_s)
        except (RedisError, OSError) as exc:
            self._pause(exc)

    async def remembers(self, name: str) -> bool:
        if self._clock() < self._paused_until:
            return False
        try:
            return bool(await self._redis.exists(self._prefix + name))
        except (RedisError, OSError) as exc:
            self._pause(exc)
            return False

    async def forget(self, name: str) -> None:
        if self._clock() < self._paused_until:
            return
        try:
            await self._redis.delete(self._prefix + name)
        except (RedisError, OSError) as exc:
            self._pause(exc)

    def _key(self, key: str, policy: Policy) -> str:
        return f"{self._prefix}{policy.name}:{key}"

    def _pause(self, exc: Exception) -> None:
        self._paused_until = self._clock() + PAUSE_AFTER_FAILURE_S
        logger.warning(
            "Redis failed (%s): rate limits kept per process for %.0f s",
            exc,
            PAUSE_AFTER_FAILURE_S,
        )

    async def aclose(self) -> None:
        await self._redis.aclose()
