"""Read replicas (``ATENDE_DATABASE_REPLICA_URLS``): which one, if any, may serve a read.

What reads where (docs/api.md, "Read replicas"):

- A replica serves the reads that only show data: list pages and their totals, export
  chunks, change-feed pages.
- The primary serves everything that authenticates or authorises (API keys, ingest keys,
  dialer tokens: a revocation or a rotation holds from the next request), every write, the
  schema check of ``/readyz``, and every read when no replica qualifies.

A replica qualifies when its breaker is closed (``storage._breaker``: reachable), its replay
lag, measured every ``LAG_POLL_S`` by a thread of its own, is at most
``ATENDE_REPLICA_MAX_LAG_MS``, and, for a change-feed page, it has replayed the WAL up to the
position the client's cursor was read at: a cursor never goes backwards.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import psycopg_pool

from atende_logs.storage._breaker import Breaker

logger = logging.getLogger("atende_logs.storage")

LAG_POLL_S = 0.2
"""How often each replica's lag is read: a fifth of a second of staleness on top of it."""
STALE_AFTER_S = 2.0
"""A lag older than this (its reading failed or hangs) disqualifies the replica."""
REPLAY_STATE_SQL = (
    "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn, "
    # Caught up: nothing received waits for replay. Otherwise the time since the last
    # transaction replayed: it grows while replay is paused or slow and the primary writes.
    "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE 1000 * extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
)
"""The replica's replayed position (bytes of WAL) and its lag in milliseconds."""


class Replica:
    """One replica: its pool, its breaker and its last measured replay state."""

    def __init__(self, conninfo: str, new_pool: Callable[[str], psycopg_pool.ConnectionPool[Any]]):
        self.conninfo = conninfo
        self._new_pool = new_pool
        self.pool = new_pool(conninfo)
        self.pool.open(wait=False)
        self.breaker = Breaker(self._probe, self._renew_pool)
        self.replayed_lsn = -1
        self.lag_ms: float | None = None
        self.measured_at = 0.0

    def qualifies(self, max_lag_ms: int, min_lsn: int | None, now: float) -> bool:
        return (
            not self.breaker.is_open
            and self.lag_ms is not None
            and self.lag_ms <= max_lag_ms
            and now - self.measured_at <= STALE_AFTER_S
            and (min_lsn is None or self.replayed_lsn >= min_lsn)
        )

    def measure(self) -> None:
        try:
            with self.pool.connection(timeout=STALE_AFTER_S) as connection:
                row = connection.execute(REPLAY_STATE_SQL).fetchone()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            self.lag_ms = None
            logger.debug("replica lag unreadable: %s", exc)
            self.breaker.suspect()
            return
        assert row is not None
        if row[0] is None:  # not a replica at all (pg_last_wal_replay_lsn() is NULL)
            self.lag_ms = None
            return
        self.replayed_lsn, self.lag_ms = int(row[0]), float(row[1] or 0)
        self.measured_at = time.monotonic()

    def _probe(self) -> None:
        psycopg.connect(self.conninfo, connect_timeout=2).close()

    def _renew_pool(self) -> None:
        fresh = self._new_pool(self.conninfo)
        fresh.open(wait=False)
        old, self.pool = self.pool, fresh
        threading.Thread(target=old.close, name="atende-old-pool", daemon=True).start()

    def close(self) -> None:
        self.breaker.stop()
        self.pool.close()


class Replicas:
    """The replicas of one store, taken in turn among those that qualify."""

    def __init__(
        self,
        conninfos: list[str],
        new_pool: Callable[[str], psycopg_pool.ConnectionPool[Any]],
        max_lag_ms: int,
    ) -> None:
        self.members = [Replica(conninfo, new_pool) for conninfo in conninfos]
        self._max_lag_ms = max_lag_ms
        self._turn = itertools.count()
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._measure_forever, daemon=True)
        if self.members:
            for replica in self.members:
                replica.measure()
            self._monitor.start()

    def __bool__(self) -> bool:
        return bool(self.members)

    def pick(self, min_lsn: int | None = None) -> Replica | None:
        """A replica for a read that must see at least ``min_lsn``; None: the primary's."""
        now = time.monotonic()
        ready = [r for r in self.members if r.qualifies(self._max_lag_ms, min_lsn, now)]
        return ready[next(self._turn) % len(ready)] if ready else None

    def _measure_forever(self) -> None:
        while not self._stopping.wait(LAG_POLL_S):
            for replica in self.members:
                if not replica.breaker.is_open:
                    replica.measure()

    def close(self) -> None:
        self._stopping.set()
        if self._monitor.is_alive():
            self._monitor.join(timeout=5)
        for replica in self.members:
            replica.close()
