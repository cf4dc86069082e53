"""How each backend hears commits for the change feed's waiters (``storage._signal``).

- PostgreSQL: one connection per process, outside the pool, ``LISTEN``s on the channel the
  writing transactions ``NOTIFY`` (``storage._changes.NOTIFY_CHANNEL``). It waits on its
  socket: an idle server sends nothing and is asked nothing.
- SQLite: the store notifies its own commits itself; another process's (an ``import``) are
  seen by ``PRAGMA data_version``, read every ``POLL_S`` from one connection, which reads
  the WAL index in shared memory, not the database file.

Both start on the first watch (``FeedStore.watch_changes``): a store nobody waits on, the
CLI's, opens nothing. After a lost connection every watch is fired, since notices may have
been missed; the readers read again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

import psycopg

from atende_logs.storage._signal import ChangeSignal

logger = logging.getLogger("atende_logs.storage")
POLL_S = 0.1
"""How often SQLite's data version is read, and how long a PostgreSQL wait lasts before the
thread looks whether the store has closed."""
RETRY_S = 1.0
"""Pause before listening again after the connection failed."""


class _Thread:
    """A daemon thread running ``loop`` until ``stop``; started once, on demand."""

    def __init__(self, name: str, loop: Callable[[threading.Event], None]) -> None:
        self._name = name
        self._loop = loop
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def start(self) -> None:
        with self._guard:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(
                    target=self._loop, args=(self._stopping,), name=self._name, daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._guard:
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5 * POLL_S + RETRY_S)


class Listener(_Thread):
    """PostgreSQL: ``LISTEN`` on a connection of its own, firing the watches each notice names."""

    def __init__(self, conninfo: str, signal: ChangeSignal, channel: str = "atende_changes"):
        self._conninfo = conninfo
        self._signal = signal
        self._channel = channel
        super().__init__("atende-changes-listener", self._run)

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {self._channel}")
                    self._signal.notify_all()  # what committed before we listened
                    while not stopping.is_set():
                        for notice in connection.notifies(timeout=POLL_S):
                            self._heard(notice.payload)
            except psycopg.Error as exc:
                logger.warning("change notices: listening failed (%s); retrying", exc)
                self._signal.notify_all()
                stopping.wait(RETRY_S)

    def _heard(self, payload: str) -> None:
        customer, _, table = payload.partition(" ")
        if customer.isdigit():
            self._signal.notify(int(customer), table)


class DataVersionPoller(_Thread):
    """SQLite: fires every watch when another connection committed (``PRAGMA data_version``)."""

    def __init__(self, path: str, signal: ChangeSignal) -> None:
        self._path = path
        self._signal = signal
        super().__init__("atende-changes-poller", self._run)

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                connection = sqlite3.connect(self._path, check_same_thread=False)
                try:
                    seen = connection.execute("PRAGMA data_version").fetchone()[0]
                    # What committed before that first read, after a watcher's (the thread
                    # starts with the first watch, and may read only after a commit that
                    # watch's request did not see): as the PostgreSQL listener does.
                    self._signal.notify_all()
                    while not stopping.wait(POLL_S):
                        now = connection.execute("PRAGMA data_version").fetchone()[0]
                        if now != seen:
                            seen = now
                            self._signal.notify_all()
                finally:
                    connection.close()
            except sqlite3.Error as exc:
                logger.warning("change notices: reading the data version failed (%s)", exc)
                self._signal.notify_all()
                stopping.wait(RETRY_S)
