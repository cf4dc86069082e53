"""An iterator advanced one step ahead in a thread: the next page is on its way while the
caller writes this one.

A pull used to ask for page N+1 only once page N was parsed, written and fsynced; over a
link of 50 Mbit/s that left the link idle between pages, and the pull took 11× the time its
compressed bytes needed (docs/benchmarks.md, "Over a real link"). The request of the next
page needs only the ``after`` of the last one, known as soon as it is parsed, so a thread
can run the source iterator while the caller works.

The source runs in that one thread only, step after step, never two at a time: an
iterator (``LogsClient.pages`` and its HTTP client) needs no locking for this. At most
``depth`` items wait, plus the one being fetched. What the source raises (an ``ApiError``,
``RetriesExhaustedError``, a ``KeyboardInterrupt`` from a retry callback) is raised by the
caller's ``next``, in the order the items came. The thread is a daemon: a caller that stops
early does not wait for a request in flight to finish, nor does the interpreter's exit.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL = 0.05
"""Seconds between two looks at the stop flag while the queue is full."""


class _End:
    """The source is exhausted."""


class _Failed:
    """The source raised ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetched(Generic[T]):
    """``source``'s items, in order, fetched ahead by a thread; ``close`` stops the thread
    (also when used as a context manager)."""

    def __init__(self, source: Iterator[T], depth: int = 1, name: str = "prefetch") -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._source = source
        self._queue: queue.Queue[T | _End | _Failed] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._fetch, name=name, daemon=True)
        self._thread.start()

    def __iter__(self) -> Prefetched[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _End):
            self._done = True
            raise StopIteration
        if isinstance(item, _Failed):
            self._done = True
            raise item.error
        return item

    def __enter__(self) -> Prefetched[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop fetching; the thread ends once a fetch in flight returns (it is not
        waited for: its item is dropped)."""
        self._done = True
        self._stop.set()

    def _fetch(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
            self._put(_End())
        except BaseException as exc:  # noqa: BLE001 - the caller's next() raises it
            self._put(_Failed(exc))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None and self._stop.is_set():
                close()  # a generator's finally blocks run here, in its own thread

    def _put(self, item: T | _End | _Failed) -> bool:
        """Queue ``item`` once there is room; False when the caller stopped meanwhile."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
            except queue.Full:
                continue
            return True
        return False
