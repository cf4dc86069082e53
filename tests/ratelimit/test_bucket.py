"""The token-bucket arithmetic, over every quota, window and request timing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from atende_logs.ratelimit.bucket import Policy, consume, peek, refill

policies = st.builds(Policy, st.just("p"), st.integers(1, 10_000), st.integers(1, 86_400))
# Gaps between requests, in seconds: bursts (0), typical spacing, and long idle spells.
gaps = st.lists(
    st.one_of(st.just(0.0), st.floats(0, 5), st.floats(0, 100_000)), min_size=1, max_size=60
)


def _run(policy: Policy, spacing: list[float]) -> tuple[float, list[bool]]:
    level, answers = float(policy.quota), []
    for gap in spacing:
        level, answer = consume(level, gap, policy)
        answers.append(answer.allowed)
    return level, answers


@given(policies)
def test_a_full_bucket_lets_exactly_its_quota_through_at_once(policy):
    _, answers = _run(policy, [0.0] * (policy.quota + 3))
    assert answers == [True] * policy.quota + [False] * 3


@given(policies, gaps)
def test_the_level_and_remaining_stay_within_zero_and_the_quota(policy, spacing):
    level = float(policy.quota)
    for gap in spacing:
        level, answer = consume(level, gap, policy)
        assert 0 <= level <= policy.quota
        assert 0 <= answer.remaining <= level + 1e-9
        if answer.allowed:
            assert answer.remaining <= policy.quota - 1  # this request's token is gone
        assert answer.wait_s >= 1


@given(policies, gaps)
def test_no_more_than_the_quota_plus_the_refill_goes_through(policy, spacing):
    _, answers = _run(policy, spacing)
    span = sum(spacing[1:])  # the first gap is before the first request: it refills nothing
    assert sum(answers) <= policy.quota + span * policy.rate + 1e-6


@given(policies, gaps)
def test_retry_after_is_honest_and_tight(policy, spacing):
    """Refused, waiting ``wait_s`` lets the next request through; a second less would not
    (give or take a millisecond: the float slack that counts 0.9999999999 as a token)."""
    level = float(policy.quota)
    for gap in [*spacing, *[0.0] * (policy.quota + 1)]:  # ends empty, whatever the gaps
        level, answer = consume(level, gap, policy)
    assert not answer.allowed
    _, later = consume(level, answer.wait_s, policy)
    assert later.allowed
    if answer.wait_s > 1:
        _, early = consume(level, answer.wait_s - 1.001, policy)
        assert not early.allowed


@given(policies, st.floats(0, 1), st.floats(-1_000, 0))
def test_a_clock_going_back_refills_nothing(policy, fraction, elapsed):
    level = fraction * policy.quota
    assert refill(level, elapsed, policy) == level


@given(policies, st.floats(0, 1), st.floats(0, 1_000_000))
def test_an_idle_bucket_fills_to_the_quota_and_no_further(policy, fraction, elapsed):
    level = refill(fraction * policy.quota, elapsed, policy)
    assert level <= policy.quota
    if elapsed >= policy.window_s:
        assert level == policy.quota


@given(policies, st.floats(0, 1), st.one_of(st.just(0.0), st.floats(0, 100_000)))
def test_peeking_answers_as_taking_would_and_takes_nothing(policy, fraction, elapsed):
    level = fraction * policy.quota
    peeked = peek(level, elapsed, policy)
    _, taken = consume(level, elapsed, policy)
    assert peeked.allowed == taken.allowed
    if taken.allowed:
        assert peeked.remaining == taken.remaining + 1  # the token is still there
    else:
        assert peeked == taken
