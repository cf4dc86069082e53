"""Buckets in this process's memory: the default, and the fallback when Redis fails."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from atende_logs.ratelimit.bucket import Policy, Verdict, consume, seconds_to_full

MAX_BUCKETS = 100_000
"""Buckets kept at most (about 30 MB with their keys). Past it the least recently used one
is dropped even if not yet full, which only ever lets that key through sooner, never later."""


@dataclass(slots=True)
class _Bucket:
    level: float
    touched_at: float
    full_at: float
    """When, left idle, it holds ``quota`` again: from then on it equals a new bucket."""


class MemoryBuckets:
    """One token bucket per partition key, in a dict kept in least-recently-used order.

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
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            level, elapsed = float(policy.quota), 0.0
        else:
            level, elapsed = bucket.level, now - bucket.touched_at
        level, answer = consume(level, elapsed, policy)
        self._buckets[key] = _Bucket(level, now, now + seconds_to_full(level, policy))
        self._drop_idle(now)
        return answer

    def _drop_idle(self, now: float) -> None:
        buckets = self._buckets
        while len(buckets) > self._max:
            buckets.popitem(last=False)
        while buckets:
            oldest = next(iter(buckets.values()))
            if oldest.full_at > now:
                break
            buckets.popitem(last=False)

    async def aclose(self) -> None:
        self._buckets.clear()
