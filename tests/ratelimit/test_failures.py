"""Failed authentications per address, and the bounded memory of keys that authenticated."""

from __future__ import annotations

import asyncio

from atende_logs.ratelimit import AuthFailures, MemoryBuckets, Policy, RecentKeys, Verdict
from atende_logs.ratelimit.failures import NOTE_REFRESH_S

POLICY = Policy("auth-failures", quota=2, window_s=60)  # a failure back every 30 s


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_refused_once_its_failures_are_spent_and_until_one_comes_back():
    clock = Clock()
    failures = AuthFailures(MemoryBuckets(clock=clock), POLICY)

    async def scenario() -> None:
        assert await failures.refusal("addr:a", "key:x") is None  # asking spends nothing
        assert await failures.refusal("addr:a", "key:x") is None
        await failures.failed("addr:a", "key:x")
        assert await failures.refusal("addr:a", None) is None
        await failures.failed("addr:a", "key:y")
        refused = await failures.refusal("addr:a", "key:z")
        assert refused is not None and refused.remaining == 0 and refused.wait_s == 30
        assert await failures.refusal("addr:b", "key:z") is None  # another address
        clock.now += refused.wait_s
        assert await failures.refusal("addr:a", "key:z") is None

    asyncio.run(scenario())


def test_a_key_that_succeeded_passes_the_block_until_it_fails():
    failures = AuthFailures(MemoryBuckets(clock=Clock()), POLICY)

    async def scenario() -> None:
        await failures.succeeded("key:good")
        for forged in ("key:f1", "key:f2"):
            await failures.failed("addr:a", forged)
        assert await failures.refusal("addr:a", "key:good") is None
        blocked = Verdict(allowed=False, remaining=0, wait_s=30)
        assert await failures.refusal("addr:a", None) == blocked
        await failures.failed("addr:a", "key:good")  # revoked meanwhile
        assert await failures.refusal("addr:a", "key:good") == blocked

    asyncio.run(scenario())


def test_recent_keys_keep_the_most_recently_used_up_to_their_bound():
    recent = RecentKeys(max_keys=3)
    for digest in ("a", "b", "c"):
        recent.add(digest)
    recent.add("a")  # used again: now the most recent
    recent.add("d")  # one too many: the least recently used goes, "b"
    assert len(recent) == 3
    assert "b" not in recent and all(d in recent for d in ("a", "c", "d"))
    for n in range(1_000):
        recent.add(f"forged {n}")
    assert len(recent) == 3
    recent.discard("forged 999")
    recent.discard("never added")
    assert len(recent) == 2


def test_the_shared_note_of_a_key_is_due_when_new_and_again_after_its_refresh():
    clock = Clock()
    recent = RecentKeys(clock=clock)
    assert recent.add("key:a") is True  # new: write the note every process reads
    clock.now += NOTE_REFRESH_S - 1
    assert recent.add("key:a") is False  # written lately: a success costs no Redis call
    clock.now += 1
    assert recent.add("key:a") is True  # an hour on: refreshed before it expires
    assert recent.add("key:a") is False
    recent.discard("key:a")
    assert recent.add("key:a") is True  # forgotten (it failed): noted afresh
