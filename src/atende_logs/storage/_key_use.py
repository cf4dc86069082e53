"""When keys were last used, recorded without a database write on every request.

Authenticating a request only notes the key's use in memory (a dict look-up under a lock).
A note is taken at most once per ``INTERVAL_S`` per key in each process; the HTTP layer
writes the notes taken after the response has gone out (``http.key_use``), so the request
that takes a note does not wait for its write either. ``last_used_at_ms`` is thus accurate
to about a minute, which is what "is this key still in use?" needs.

Only the moment of the last write is remembered per key, never anything that authenticates:
revocation is checked in the database on every request, whatever this holds.
"""

from __future__ import annotations

import threading
import time

INTERVAL_S = 60.0
"""Least time between two writes of one key's last use by one process."""

KEY_TABLES = ("api_keys", "ingest_keys")

KeyRef = tuple[str, int]
"""(table, key id)."""


class KeyUseNotes:
    """The last uses this process has yet to write, and when it last took each key's."""

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._taken: dict[KeyRef, float] = {}  # monotonic time of each key's last note
        self._due: dict[KeyRef, int] = {}  # epoch ms of the uses waiting to be written
        self._lock = threading.Lock()

    def note(self, table: str, key_id: int, used_at_ms: int) -> None:
        """Record a use, unless this key's use was taken within the interval."""
        now, ref = time.monotonic(), (table, key_id)
        with self._lock:
            taken = self._taken.get(ref)
            if taken is not None and now - taken < self._interval_s:
                return
            self._taken[ref] = now
            self._due[ref] = used_at_ms

    def pending(self) -> bool:
        # Read without the lock: a note missed here is written after the next request.
        return bool(self._due)

    def take(self) -> dict[KeyRef, int]:
        """The uses to write, forgotten here: a failed write loses at most a minute of them."""
        with self._lock:
            due, self._due = self._due, {}
        return due


def last_use_sql(table: str) -> str:
    """Sets a key's last use unless a later one (another process's) is already there."""
    assert table in KEY_TABLES
    return (
        f"UPDATE {table} SET last_used_at_ms = ? "
        "WHERE id = ? AND (last_used_at_ms IS NULL OR last_used_at_ms < ?)"
    )
