"""The breaker's states with a probe the test controls (the real outage: tests/faults)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from atende_logs.storage._breaker import Breaker


def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the breaker never got there"
        time.sleep(0.005)


class Database:
    """Up or down at the test's word; counts probes and how many ran at once."""

    def __init__(self) -> None:
        self.up = True
        self.probes = 0
        self.running = 0
        self.most_at_once = 0
        self.renewals = 0
        self.renewal_fails = False
        self._lock = threading.Lock()

    def probe(self) -> None:
        with self._lock:
            self.probes += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.002)
        with self._lock:
            self.running -= 1
        if not self.up:
            raise ConnectionRefusedError("connection refused")

    def renew(self) -> None:
        if self.renewal_fails:
            raise ConnectionResetError("gone again")
        self.renewals += 1


def _breaker(db: Database) -> Breaker:
    return Breaker(db.probe, db.renew, interval_s=0.001)


def test_a_suspicion_with_the_database_up_opens_nothing() -> None:
    db = Database()
    breaker = _breaker(db)
    breaker.suspect()
    _until(lambda: db.probes == 1 and not breaker._probing)
    assert not breaker.is_open
    assert db.renewals == 0
    assert breaker.openings == 0


def test_a_failed_probe_opens_until_one_succeeds_then_the_pool_is_renewed_once() -> None:
    db = Database()
    db.up = False
    breaker = _breaker(db)
    breaker.suspect()
    _until(lambda: breaker.is_open)
    _until(lambda: db.probes >= 5)  # it keeps looking while open
    assert db.renewals == 0
    db.up = True
    _until(lambda: not breaker.is_open)
    assert db.renewals == 1
    assert breaker.openings == 1


def test_one_probe_at_a_time_however_many_suspect() -> None:
    db = Database()
    db.up = False
    breaker = _breaker(db)
    threads = [threading.Thread(target=breaker.suspect) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _until(lambda: db.probes >= 20)
    assert db.most_at_once == 1
    db.up = True
    _until(lambda: not breaker.is_open)
    assert db.renewals == 1
    breaker.stop()


def test_a_renewal_that_fails_keeps_it_open_and_probing() -> None:
    db = Database()
    db.up = False
    breaker = _breaker(db)
    breaker.suspect()
    _until(lambda: breaker.is_open)
    db.up, db.renewal_fails = True, True
    seen = db.probes
    _until(lambda: db.probes >= seen + 5)
    assert breaker.is_open  # never let requests through to a pool that could not be made
    db.renewal_fails = False
    _until(lambda: not breaker.is_open)
    assert db.renewals == 1


def test_a_stopped_breaker_stops_probing() -> None:
    db = Database()
    db.up = False
    breaker = _breaker(db)
    breaker.suspect()
    _until(lambda: breaker.is_open)
    breaker.stop()
    _until(lambda: not breaker._probing)
    seen = db.probes
    breaker.suspect()
    time.sleep(0.05)
    assert db.probes == seen
