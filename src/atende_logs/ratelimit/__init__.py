"""Per-key rate limits: token buckets in this process or in Redis, a concurrency cap, and a
quota of failed authentications per client address.

Each key also gets a fair share of the process's database threads (``shares``).

Nothing here knows HTTP: ``atende_logs.http.rate_limit_middleware`` decides which requests are
limited, under which key, and what the answers say.
"""

from __future__ import annotations

from typing import Protocol

from atende_logs.config import Settings
from atende_logs.ratelimit.bucket import Policy, Verdict
from atende_logs.ratelimit.failures import AuthFailures, RecentKeys
from atende_logs.ratelimit.inflight import InFlight
from atende_logs.ratelimit.memory import MemoryBuckets
from atende_logs.ratelimit.shared import RedisBuckets
from atende_logs.ratelimit.shares import Shares, Turn

__all__ = [
    "AuthFailures",
    "Buckets",
    "InFlight",
    "MemoryBuckets",
    "Policy",
    "RecentKeys",
    "RedisBuckets",
    "Shares",
    "Turn",
    "Verdict",
    "open_buckets",
]


class Buckets(Protocol):
    """Where the buckets live."""

    async def consume(self, key: str, policy: Policy) -> Verdict:
        """Take one token from ``key``'s bucket under ``policy``."""
        ...

    async def peek(self, key: str, policy: Policy) -> Verdict:
        """What ``consume`` would answer now, taking nothing: ``allowed`` when a token is
        there."""
        ...

    async def remember(self, name: str, ttl_s: int) -> None:
        """Note ``name`` for every process sharing these buckets, for ``ttl_s`` seconds."""
        ...

    async def remembers(self, name: str) -> bool:
        """Whether some process noted ``name`` (and its note has not expired)."""
        ...

    async def forget(self, name: str) -> None:
        """Drop the note of ``name``."""
        ...

    async def aclose(self) -> None: ...


def open_buckets(settings: Settings) -> Buckets:
    """Redis when ``ATENDE_REDIS_URL`` is set (quotas shared by every process), else memory."""
    if settings.redis_url:
        return RedisBuckets(settings.redis_url, settings.redis_key_prefix)
    return MemoryBuckets()
