"""A breaker for a database that is gone: requests are refused at once instead of each
waiting out the pool's timeout, and the pool is renewed the moment the database is back.

Two things went wrong without it, both measured with PostgreSQL stopped
(docs/benchmarks-history.md, "2026-12-07: PostgreSQL gone, answered at once"):

- Every request waited the pool's whole timeout (the statement timeout, 10 s by default)
  before its 503, although every connection attempt was refused at once.
- psycopg_pool replaces lost connections with exponential backoff (1, 2, 4, 8… s). After a
  40 s outage its attempts were so far apart that the pool kept answering 503 for 18 s
  after PostgreSQL was back; after shorter ones, a pool short of connections made
  requests wait out the timeout under load (an intermittent failure of tests/faults).

So any sign of trouble (a dead connection found, a lost connection, a pool timeout) starts
one probe: a fresh connection made outside the pool. A probe that fails opens the breaker
and is repeated every ``PROBE_INTERVAL_S``; while it is open, requests get the store's 503
at once. The first probe that succeeds closes it, after ``on_recovered`` has put a fresh
pool in place of the old one and its backoff. A pool timeout with the database up (slow
queries holding every connection) opens nothing: its probe succeeds, and a slow query still
gets its whole statement timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger("atende_logs.storage")

PROBE_INTERVAL_S = 0.25
"""Pause between probes while the database is gone: how soon after its return the pool is
renewed, at the cost of one refused connection attempt per pause."""


class Breaker:
    """Open while the database is known to be unreachable; one probe thread at a time.

    ``probe`` raises when the database cannot be reached; ``on_recovered`` runs once when a
    probe succeeds after the breaker opened, before requests are let through again.
    """

    def __init__(
        self,
        probe: Callable[[], None],
        on_recovered: Callable[[], None],
        interval_s: float = PROBE_INTERVAL_S,
    ) -> None:
        self._probe = probe
        self._on_recovered = on_recovered
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._probing = False
        self._stopping = threading.Event()
        self.is_open = False
        self.openings = 0
        """How many times the database was found gone (for /metrics and tests)."""

    def suspect(self) -> None:
        """Something failed that a lost database would explain: look, unless already looking."""
        with self._lock:
            if self._probing or self._stopping.is_set():
                return
            self._probing = True
        threading.Thread(target=self._probe_until_up, name="atende-db-probe", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()

    def _probe_until_up(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self._probe()
                    if self.is_open:
                        self._on_recovered()
                except Exception as exc:  # whatever stops a connection, the database is gone
                    if not self.is_open:
                        self.is_open = True
                        self.openings += 1
                        logger.warning("database unreachable, refusing requests: %s", exc)
                    self._stopping.wait(self._interval_s)
                    continue
                if self.is_open:
                    self.is_open = False
                    logger.warning("database reachable again, serving requests")
                return
        finally:
            with self._lock:
                self._probing = False
