"""Each key's share of this process's database threads.

A process runs at most ``ATENDE_DB_THREADS`` database calls at once, and each request of
a key could take one. Four slow counts of one key, each allowed the whole statement
timeout, would then hold every thread of a PostgreSQL process while every other customer
queued behind them. So a key holds at most ``size`` of them at a time (by default one less
than the process has): its further requests wait for one of its own turns, in arrival
order, and the last thread always stays free for someone else.
"""

from __future__ import annotations

from types import TracebackType

import anyio


class _Share:
    __slots__ = ("semaphore", "users")

    def __init__(self, size: int) -> None:
        self.semaphore = anyio.Semaphore(size)
        self.users = 0
        """Turns that hold or wait for the semaphore: the share is dropped at zero."""


class Shares:
    """The turns of every key in this process; a key with none holds no memory.

    Used from the event loop only.
    """

    def __init__(self) -> None:
        self._shares: dict[str, _Share] = {}

    def __len__(self) -> int:
        return len(self._shares)

    def holding(self, key: str) -> int:
        """Turns ``key`` holds now."""
        share = self._shares.get(key)
        if share is None:
            return 0
        return share.users - share.semaphore.statistics().tasks_waiting

    def turn(self, key: str, size: int) -> Turn:
        """A turn of ``key``'s share, which holds ``size`` at once (a share that exists
        keeps the size it was made with)."""
        return Turn(self, key, size)

    async def _acquire(self, key: str, size: int) -> None:
        share = self._shares.get(key)
        if share is None:
            share = self._shares[key] = _Share(size)
        share.users += 1
        try:
            await share.semaphore.acquire()
        except BaseException:  # cancelled while waiting: it never held one
            self._leave(key, share)
            raise

    def _release(self, key: str) -> None:
        share = self._shares[key]
        share.semaphore.release()
        self._leave(key, share)

    def _leave(self, key: str, share: _Share) -> None:
        share.users -= 1
        if not share.users:
            del self._shares[key]


class Turn:
    """One request's claim on its key's share: taken before its database work, given back
    after it, and taken again for each later piece (an export's chunks).

    ``give`` does nothing when the turn is not held, so it can be called on every path.
    """

    def __init__(self, shares: Shares, key: str, size: int) -> None:
        self._shares = shares
        self._key = key
        self._size = size
        self.held = False

    async def take(self) -> None:
        """Wait for one of the key's turns (at once when the key holds fewer than its size)."""
        await self._shares._acquire(self._key, self._size)
        self.held = True

    def give(self) -> None:
        if self.held:
            self.held = False
            self._shares._release(self._key)

    async def __aenter__(self) -> Turn:
        await self.take()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.give()
