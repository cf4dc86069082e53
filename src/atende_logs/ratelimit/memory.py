"""Buckets in this process's memory: the default, and the fallback when Redis fails."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from atende_logs.ratelimit.bucket import Policy, Verdict, consume, peek, seconds_to_full

MAX_BUCKETS = 100_000
"""Buckets kept at most (about 30 MB with their keys). Past it the least recently used one
is dropped even if not yet full, which only ever lets that key through sooner, never later."""


@dataclass(slots=True)
class _Bucket:
    level: float
    touched_at: float
    full_at: float
    """When, left idle, it holds ``quota`` again: from then on it equals a new bucket."""


def _bucket_key(key: str, policy: Policy) -> str:
    # Per policy, as in Redis: an address spends its search, ingest and failed-authentication
    # quotas in buckets of their own.
    return f"{policy.name}:{key}"


class MemoryBuckets:
    """One token bucket per policy and partition key, in a dict kept in least-recently-used
    order.

    An idle bucket that has filled up again is indistinguishable from a missing one, so
    those are dropped as they reach the front: memory follows the keys active in the last
    window, not every key ever seen. All of it runs on the event loop, without awaiting,
    so no lock is needed.
    """

    def __init__(
        self, max_buckets: int = MAX_BUCKETS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._max = max_buckets
        self._clock = clock

    def __len__(self) -> int:
        return len(self._buckets)

    async def consume(self, key: str, policy: Policy) -> Verdict:
        return self.consume_now(key, policy)

    def consume_now(self, key: str, policy: Policy) -> Verdict:
        """Take a token from ``key``'s bucket (the same call, without a coroutine)."""
        now = self._clock()
        key = _bucket_key(key, policy)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            level, elapsed = float(policy.quota), 0.0
        else:
            level, elapsed = bucket.level, now - bucket.touched_at
        level, answer = consume(level, elapsed, policy)
        self._buckets[key] = _Bucket(level, now, now + seconds_to_full(level, policy))
        self._drop_idle(now)
        return answer

    async def peek(self, key: str, policy: Policy) -> Verdict:
        return self.peek_now(key, policy)

    def peek_now(self, key: str, policy: Policy) -> Verdict:
        """What taking a token from ``key``'s bucket would answer, without taking it."""
        bucket = self._buckets.get(_bucket_key(key, policy))
        if bucket is None:
            return peek(float(policy.quota), 0.0, policy)
        return peek(bucket.level, self._clock() - bucket.touched_at, policy)

    def _drop_idle(self, now: float) -> None:
        buckets = self._buckets
        while len(buckets) > self._max:
            buckets.popitem(last=False)
        while buckets:
            oldest = next(iter(buckets.values()))
            if oldest.full_at > now:
                break
            buckets.popitem(last=False)

    # Notes are for other processes; this process's own memory of them is the caller's
    # (``failures.RecentKeys``), so in-process buckets keep none.

    async def remember(self, name: str, ttl_s: int) -> None:
        return None

    async def remembers(self, name: str) -> bool:
        return False

    async def forget(self, name: str) -> None:
        return None

    async def aclose(self) -> None:
        self._buckets.clear()
