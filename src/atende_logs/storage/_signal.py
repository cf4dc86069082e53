"""Waking the change feed's waiters when a customer's kind of log changes.

A long-poll (and, later, a live tail) registers a ``ChangeWatch`` *before* it reads the
feed, reads, and waits only if it found nothing: a change committing in between fires the
watch, so the wait returns at once. How a commit reaches ``ChangeSignal.notify`` is the
backend's: PostgreSQL's ``NOTIFY`` heard by one listening connection per process, SQLite's
own commits in this process and ``PRAGMA data_version`` for other processes' (docs/sync.md,
"Cheap"). Nothing here reads the database: an idle waiter costs it nothing.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

WatchKey = tuple[int, str]
"""(customer id, log table) of a watch."""


class ChangeWatch:
    """One waiter's interest in a customer's kind, from ``ChangeSignal.watch``.

    Fired by any thread; waited on from the event loop it was made for (``changed``) or
    from a thread (``wait``). ``clear`` before each read of the feed.
    """

    def __init__(
        self, signal: ChangeSignal, key: WatchKey, loop: asyncio.AbstractEventLoop | None
    ) -> None:
        self._signal = signal
        self.key = key
        self._fired = threading.Event()
        self._loop = loop
        self._event: asyncio.Event | None = None
        if loop is not None:
            # An Event binds to the running loop when first waited on, not when made: it
            # may be made on a worker thread, for the request's loop.
            self._event = asyncio.Event()

    def fire(self) -> None:
        """Note a change (any thread)."""
        self._fired.set()
        if self._loop is not None and self._event is not None:
            try:
                self._loop.call_soon_threadsafe(self._event.set)
            except RuntimeError:  # the loop has closed: nobody waits any more
                pass

    def clear(self) -> None:
        """Forget earlier changes: call it before reading the feed (on the watch's loop)."""
        self._fired.clear()
        if self._event is not None:
            self._event.clear()

    @property
    def fired(self) -> bool:
        return self._fired.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Block until a change or ``timeout_s``; whether a change came."""
        return self._fired.wait(timeout_s)

    async def changed(self, timeout_s: float) -> bool:
        """Wait, on the watch's event loop, until a change or ``timeout_s``."""
        assert self._event is not None, "made outside an event loop: use wait()"
        if self._fired.is_set():
            return True
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def __enter__(self) -> ChangeWatch:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._signal.forget(self)


class ChangeSignal:
    """The watches of one store, by customer and kind; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: dict[WatchKey, set[ChangeWatch]] = {}

    def watch(
        self, customer_id: int, table: str, loop: asyncio.AbstractEventLoop | None = None
    ) -> ChangeWatch:
        """A watch of the customer's log ``table``, waited on from ``loop`` (None: from a
        thread); use it as a context manager."""
        watch = ChangeWatch(self, (customer_id, table), loop)
        with self._lock:
            self._watches.setdefault(watch.key, set()).add(watch)
        return watch

    def forget(self, watch: ChangeWatch) -> None:
        with self._lock:
            watches = self._watches.get(watch.key)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[watch.key]

    def watching(self) -> int:
        """Watches registered now."""
        with self._lock:
            return sum(len(watches) for watches in self._watches.values())

    def notify(self, customer_id: int, table: str) -> None:
        """A change of the customer's ``table`` committed: fire its watches."""
        with self._lock:
            watches = list(self._watches.get((customer_id, table), ()))
        for watch in watches:
            watch.fire()

    def notify_all(self) -> None:
        """Something may have changed anywhere (notices may have been lost): fire every watch."""
        with self._lock:
            watches = [watch for group in self._watches.values() for watch in group]
        for watch in watches:
            watch.fire()
