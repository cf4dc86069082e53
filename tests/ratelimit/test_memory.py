"""In-process buckets: per-key state, and memory that follows the active keys only."""

from __future__ import annotations

from atende_logs.ratelimit import InFlight, MemoryBuckets, Policy

POLICY = Policy("api", quota=3, window_s=30)  # a token back every 10 s


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_each_key_has_its_own_bucket():
    buckets = MemoryBuckets(clock=Clock())
    assert [buckets.consume_now("a", POLICY).allowed for _ in range(4)] == [True] * 3 + [False]
    assert buckets.consume_now("b", POLICY).allowed


def test_a_refused_key_gets_in_again_after_its_wait():
    clock = Clock()
    buckets = MemoryBuckets(clock=clock)
    for _ in range(3):
        buckets.consume_now("a", POLICY)
    refused = buckets.consume_now("a", POLICY)
    assert not refused.allowed and refused.remaining == 0 and refused.wait_s == 10
    clock.now += refused.wait_s
    assert buckets.consume_now("a", POLICY).allowed


def test_buckets_that_filled_up_again_are_dropped():
    clock = Clock()
    buckets = MemoryBuckets(clock=clock)
    for name in ("a", "b", "c"):
        buckets.consume_now(name, POLICY)  # each 1 token short: full again 10 s later
        clock.now += 4
    assert len(buckets) == 3
    # Now 1012: "a" is full again (since 1010), "b" not yet (at 1014).
    buckets.consume_now("d", POLICY)
    assert len(buckets) == 3  # "a" dropped, "d" added
    clock.now += 100
    buckets.consume_now("e", POLICY)
    assert len(buckets) == 1


def test_a_dropped_bucket_answers_as_a_kept_one_would():
    clock = Clock()
    dropping, keeping = MemoryBuckets(clock=clock), MemoryBuckets(clock=clock)
    for buckets in (dropping, keeping):
        buckets.consume_now("a", POLICY)
    clock.now += 60
    dropping.consume_now("other", POLICY)  # drops "a" from ``dropping``
    assert len(dropping) == 1
    assert dropping.consume_now("a", POLICY) == keeping.consume_now("a", POLICY)


def test_peeking_takes_nothing_and_tells_what_taking_would():
    clock = Clock()
    buckets = MemoryBuckets(clock=clock)
    assert buckets.peek_now("a", POLICY).allowed and len(buckets) == 0  # no bucket made
    for _ in range(3):
        peeked = buckets.peek_now("a", POLICY)
        assert peeked.allowed == buckets.consume_now("a", POLICY).allowed
    peeked, refused = buckets.peek_now("a", POLICY), buckets.consume_now("a", POLICY)
    assert not peeked.allowed and peeked == refused
    clock.now += refused.wait_s
    assert buckets.peek_now("a", POLICY).allowed
    assert buckets.consume_now("a", POLICY).allowed  # the peek left the token there


def test_each_policy_has_its_own_buckets():
    buckets = MemoryBuckets(clock=Clock())
    other = Policy("ingest", quota=3, window_s=30)
    for _ in range(3):
        buckets.consume_now("addr:x", POLICY)
    assert not buckets.peek_now("addr:x", POLICY).allowed
    assert buckets.consume_now("addr:x", other).allowed


def test_the_number_of_buckets_is_capped():
    buckets = MemoryBuckets(max_buckets=5, clock=Clock())
    for n in range(50):
        buckets.consume_now(f"key {n}", POLICY)
    assert len(buckets) == 5


def test_in_flight_counts_per_key_up_to_the_cap_and_forgets_idle_keys():
    running = InFlight()
    assert [running.try_enter("a", 2) for _ in range(3)] == [True, True, False]
    assert running.try_enter("b", 2)
    running.leave("a")
    assert running.running("a") == 1 and running.try_enter("a", 2)
    for key in ("a", "a", "b"):
        running.leave(key)
    assert running.running("a") == running.running("b") == 0
    assert not running._running  # no memory kept for keys with nothing in flight
