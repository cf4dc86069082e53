"""Token-bucket arithmetic: pure functions of a bucket's level and the clock, no I/O.

A bucket holds up to ``quota`` tokens and refills continuously at ``quota / window_s``
tokens a second; a request takes one token or is refused. So a key may burst ``quota``
requests at once, and sustain ``quota`` per ``window_s`` after that. The same arithmetic
runs in this process (``memory``) and, transcribed to Lua, inside Redis (``shared``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EPSILON = 1e-9
"""Float slack: a level of 0.9999999999 after waiting exactly ``Retry-After`` is a token."""


@dataclass(frozen=True)
class Policy:
    """One quota, named as the ``RateLimit-Policy`` field names it."""

    name: str
    quota: int
    """Bucket size: requests allowed at once (the field's ``q``)."""
    window_s: int
    """Seconds an empty bucket takes to fill up again (the field's ``w``)."""

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self.quota / self.window_s


@dataclass(frozen=True)
class Verdict:
    """What one request got: let through or not, and what to tell the client."""

    allowed: bool
    remaining: int
    """Whole tokens left after this request (the ``RateLimit`` field's ``r``)."""
    wait_s: int
    """Seconds, rounded up, until the bucket holds one whole token more than ``remaining``
    (``t``); on a refusal, the ``Retry-After`` after which the next request goes through."""


def refill(level: float, elapsed_s: float, policy: Policy) -> float:
    """The level ``elapsed_s`` seconds later (a clock that went back adds nothing)."""
    return min(float(policy.quota), level + max(0.0, elapsed_s) * policy.rate)


def take(level: float) -> tuple[float, bool]:
    """The level after asking for one token, and whether it was granted."""
    if level >= 1 - EPSILON:
        return max(0.0, level - 1), True
    return level, False


def verdict(level: float, allowed: bool, policy: Policy) -> Verdict:
    """The answer for a request that left the bucket at ``level``."""
    whole = math.floor(level + EPSILON)
    wait = (whole + 1 - level) / policy.rate
    return Verdict(allowed, whole, max(1, math.ceil(wait - EPSILON)))


def consume(level: float, elapsed_s: float, policy: Policy) -> tuple[float, Verdict]:
    """Refill a bucket last touched ``elapsed_s`` ago, take a token: its new level and the
    verdict."""
    level, allowed = take(refill(level, elapsed_s, policy))
    return level, verdict(level, allowed, policy)


def peek(level: float, elapsed_s: float, policy: Policy) -> Verdict:
    """What ``consume`` would answer a bucket last touched ``elapsed_s`` ago, taking nothing:
    ``allowed`` says a token is there, ``wait_s`` when one more will be."""
    level = refill(level, elapsed_s, policy)
    return verdict(level, level >= 1 - EPSILON, policy)


def seconds_to_full(level: float, policy: Policy) -> float:
    """How long until an idle bucket at ``level`` is full, i.e. the same as a new one."""
    return (policy.quota - level) / policy.rate
