"""Retries: the policy's waits, ``Retry-After`` in both forms, and failures produced on the
wire by a proxy in front of the real server: 429, 5xx, slow answers and dropped connections
are retried; every other 4xx stops at once."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from _remote import DROP, Doc, Fault, FaultProxy, Remote
from atende_logs.cli.main import app
from atende_logs.client import (
    ApiError,
    LogsClient,
    RetriesExhaustedError,
    RetryNotice,
    RetryPolicy,
)
from atende_logs.client.retry import retry_after_seconds

runner = CliRunner()
PAGE = 50
SLOW_TIMEOUT_S = 5.0

FAULTS = [
    Fault(429, "2"),
    Fault(429, "0"),
    Fault(429),
    Fault(503, "1"),
    Fault(500, body=b"Internal Server Error"),
    Fault(502, body=b""),
    Fault(504),
    DROP,
]


@given(
    policy=st.builds(
        RetryPolicy,
        attempts=st.integers(1, 20),
        backoff=st.floats(0, 10),
        max_backoff=st.floats(0, 100),
        give_up_after=st.floats(0, 1000),
    ),
    retry=st.integers(1, 10_000),
    seed=st.integers(),
)
def test_waits_double_up_to_the_cap_with_half_jitter(
    policy: RetryPolicy, retry: int, seed: int
) -> None:
    wait = policy.wait(retry, random.Random(seed))
    ceiling = min(policy.max_backoff, policy.backoff * 2.0 ** min(retry - 1, 60))
    assert ceiling / 2 <= wait <= ceiling
    assert policy.wait(retry + 1, random.Random(seed)) >= ceiling / 2  # never shrinks below


def test_waits_are_jittered() -> None:
    rng = random.Random(1)
    waits = {RetryPolicy().wait(3, rng) for _ in range(20)}
    assert len(waits) == 20 and all(1.0 <= wait <= 2.0 for wait in waits)


def test_a_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(backoff=-1)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(" 0 ", now) == 0.0
    assert retry_after_seconds("Fri, 27 Nov 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Fri, 27 Nov 2026 12:00:30 -0000", now) == 30.0
    assert retry_after_seconds(format_datetime(now - timedelta(minutes=1), usegmt=True), now) == 0
    # A date of now is already past when read (it has whole seconds): no wait.
    assert retry_after_seconds(format_datetime(datetime.now(UTC), usegmt=True)) == 0.0
    for unreadable in (None, "", "soon", "-5", "1.5", "\u0663"):
        assert retry_after_seconds(unreadable, now) is None


def _pages(items: list[Doc]) -> int:
    """Requests a listing takes: its pages and the empty one that ends it."""
    return math.ceil(len(items) / PAGE) + 1


@settings(max_examples=10)
@given(schedule=st.dictionaries(st.integers(1, 12), st.sampled_from(FAULTS), max_size=6))
def test_passing_failures_are_retried(
    remote: Remote, reference: dict[str, list[Doc]], schedule: dict[int, Fault]
) -> None:
    """Whatever fails when, the items are those paged by hand, each failure cost one retry,
    and a ``Retry-After`` set the wait."""
    waits: list[float] = []
    notices: list[RetryNotice] = []
    with FaultProxy(remote.url, schedule) as proxy:
        client = LogsClient(
            proxy.url, remote.key, sleep=waits.append, on_retry=notices.append, timeout=10
        )
        with client:
            items = list(client.items("cdrs", size=PAGE))
    assert items == reference["cdrs"]
    hit = sorted(number for number in schedule if number <= len(proxy.seen))
    assert len(proxy.seen) == _pages(reference["cdrs"]) + len(hit)
    assert len(waits) == len(hit) == len(notices)
    for wait, notice, number in zip(waits, notices, hit, strict=True):
        fault = schedule[number]
        assert notice.wait == wait
        if fault.retry_after is not None:
            assert wait == float(fault.retry_after)
        else:
            assert 0 <= wait <= RetryPolicy().max_backoff
        if fault.drop:
            assert "RemoteProtocolError" in notice.problem
        else:
            assert notice.problem.startswith(str(fault.status))


def test_a_retry_after_date_is_honoured(remote: Remote) -> None:
    # Far enough ahead that a busy machine cannot eat the margin (sleep is not real here).
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    waits: list[float] = []
    with FaultProxy(remote.url, {1: Fault(429, when)}) as proxy:
        with LogsClient(proxy.url, remote.key, sleep=waits.append) as client:
            assert list(client.items("cdrs", {"call_id": "odd-cdr"}))
    assert len(waits) == 1 and 30 < waits[0] <= 60


def test_a_slow_answer_times_out_and_is_retried(remote: Remote) -> None:
    waits: list[float] = []
    notices: list[RetryNotice] = []
    # The first answer is held far past the timeout, and the timeout leaves a real answer
    # ample time even on a loaded machine: only the held request can time out.
    held = {1: Fault(delay=SLOW_TIMEOUT_S * 20)}
    with FaultProxy(remote.url, held) as proxy:
        client = LogsClient(
            proxy.url,
            remote.key,
            timeout=SLOW_TIMEOUT_S,
            sleep=waits.append,
            on_retry=notices.append,
        )
        with client:
            found = [item["callid"] for item in client.items("cdrs", {"call_id": "odd-cdr"})]
    assert found == ["odd-cdr"]
    assert len(waits) == 1 and len(proxy.seen) == 3
    assert [n.problem.split(":")[0] for n in notices] == ["ReadTimeout"], notices


def test_giving_up_after_the_last_attempt(remote: Remote) -> None:
    waits: list[float] = []
    faults = {n: Fault(503) for n in range(1, 10)}
    with FaultProxy(remote.url, faults) as proxy:
        client = LogsClient(
            proxy.url, remote.key, retry=RetryPolicy(attempts=3), sleep=waits.append
        )
        with client, pytest.raises(RetriesExhaustedError, match="after 3 tries.*503 overloaded"):
            list(client.items("cdrs"))
    assert len(proxy.seen) == 3 and len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0


def test_giving_up_rather_than_waiting_past_the_limit(remote: Remote) -> None:
    waits: list[float] = []
    with FaultProxy(remote.url, {1: Fault(429, "60")}) as proxy:
        client = LogsClient(
            proxy.url, remote.key, retry=RetryPolicy(give_up_after=30), sleep=waits.append
        )
        with client, pytest.raises(RetriesExhaustedError, match="60.0 s more would pass the 30"):
            list(client.items("cdrs"))
    assert len(proxy.seen) == 1 and waits == []


def _never(seconds: float) -> None:
    raise AssertionError(f"a wait of {seconds} s: this failure must not be retried")


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            Fault(400, body=b'{"error": {"status": 400, "code": "x", "message": "ruim"}}'),
            "(400 x): ruim",
        ),
        (Fault(403, body=b"forbidden by policy"), "(403): forbidden by policy"),
        (Fault(404, body=b'{"detail": "Not Found"}'), '(404): {"detail": "Not Found"}'),
        (Fault(408, body=b""), "(408): Request Timeout"),
    ],
)
def test_other_client_errors_stop_at_once(remote: Remote, fault: Fault, message: str) -> None:
    with FaultProxy(remote.url, {1: fault}) as proxy:
        with LogsClient(proxy.url, remote.key, sleep=_never) as client:
            with pytest.raises(ApiError) as caught:
                list(client.items("cdrs"))
    assert message in str(caught.value)
    assert len(proxy.seen) == 1


def test_the_command_tells_of_retries_and_of_giving_up(remote: Remote, tmp_path: Path) -> None:
    output = tmp_path / "cdrs.ndjson"
    base = ["pull", "cdrs", "--key", remote.key, "-o", output, "--backoff", "0"]
    with FaultProxy(remote.url, {1: Fault(429, "0"), 2: DROP}) as proxy:
        result = runner.invoke(app, [str(arg) for arg in [*base, "--url", proxy.url]])
    assert result.exit_code == 0, result.output
    assert "try 1 failed (429 overloaded); retrying in 0.0 s" in result.stderr
    assert "try 2 failed (RemoteProtocolError" in result.stderr
    with FaultProxy(remote.url, {n: Fault(502, body=b"") for n in range(2, 5)}) as proxy:
        args = [*base, "--url", proxy.url, "--retries", "2", "--page-size", "100"]
        result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 1
    assert "giving up after 2 tries" in result.stderr and "502 Bad Gateway" in result.stderr
    assert "The items so far are kept: run the same command again to resume." in result.stderr
    assert len(output.read_bytes().splitlines()) == 100
