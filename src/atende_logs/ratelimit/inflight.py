"""Requests in flight per partition key, in this process: the concurrency cap."""

from __future__ import annotations


class InFlight:
    """Counts running requests per key; a key with none holds no memory.

    Used from the event loop only, with no await between the check and the count, so
    it needs no lock.
    """

    def __init__(self) -> None:
        self._running: dict[str, int] = {}

    def running(self, key: str) -> int:
        return self._running.get(key, 0)

    def try_enter(self, key: str, cap: int) -> bool:
        """Count one more request for ``key`` unless ``cap`` are already running."""
        running = self._running.get(key, 0)
        if running >= cap:
            return False
        self._running[key] = running + 1
        return True

    def leave(self, key: str) -> None:
        running = self._running.pop(key) - 1
        if running:
            self._running[key] = running
