"""A process-wide cache of listing totals, valid for one version of the data.

``total`` is part of every page, and counting a large range costs more than the page
itself. A listing's pages share their filters, so the count is kept, keyed by the count
statement's text and parameters (the query without its cursor), beside the data version it
was made at; any write to that customer's kind bumps the version, which retires the entry.
The figure stays exact. The key holds the text, not only the parameters: two filters on
different columns with the same value have the same parameters.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

CountKey = tuple[Hashable, ...]


class CountCache:
    """A bounded LRU map of count key -> (data version, total), safe across threads."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[CountKey, tuple[int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CountKey, version: int) -> int | None:
        """The total counted for ``key`` at ``version``, if there is one."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: CountKey, version: int, total: int) -> None:
        with self._lock:
            self._entries[key] = (version, total)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
