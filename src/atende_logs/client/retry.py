"""When and how long to wait before trying a failed request again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

TRANSIENT_STATUSES = frozenset({429}) | frozenset(range(500, 600))
"""Statuses worth retrying: too many requests and server errors. Other 4xx mean the request
itself is wrong, and sending it again gets the same answer."""

_MAX_DOUBLINGS = 60  # 2**60 half-seconds is past any cap; a larger power overflows a float


@dataclass(frozen=True)
class RetryPolicy:
    """How a request that failed for a passing reason (a connection error, a timeout, 429
    or 5xx) is tried again.

    The wait before retry *n* is ``backoff * 2**(n-1)`` seconds, capped at ``max_backoff``,
    with jitter: half of it fixed, half drawn at random, so clients that failed together do
    not come back together. A ``Retry-After`` header (seconds or an HTTP date) replaces the
    computed wait, even beyond ``max_backoff``. A request is given up after ``attempts``
    tries, or as soon as its next wait would end more than ``give_up_after`` seconds after
    its first try began. Every successful request starts afresh.
    """

    attempts: int = 8
    """Tries per request, the first one included; 1 means never retry."""
    backoff: float = 0.5
    """Seconds before the first retry, doubled before each of the next."""
    max_backoff: float = 30.0
    """The longest computed wait between two tries."""
    give_up_after: float = 300.0
    """Seconds one request may spend failing and waiting before the client gives up."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if min(self.backoff, self.max_backoff, self.give_up_after) < 0:
            raise ValueError("backoff, max_backoff and give_up_after cannot be negative")

    def wait(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first)."""
        doublings = min(max(retry - 1, 0), _MAX_DOUBLINGS)
        ceiling = min(self.max_backoff, self.backoff * 2.0**doublings)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for: delta-seconds or an HTTP date.

    None when the header is absent or unreadable; a date in the past asks for no wait.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        moment = moment.replace(tzinfo=UTC)
    seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    return max(seconds, 0.0)
