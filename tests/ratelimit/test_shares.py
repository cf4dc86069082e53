"""Each key's turns at the database threads: at most its share at once, the rest waiting
in arrival order, and nothing kept once a key has no request left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from atende_logs.ratelimit import Shares

DEADLINE_S = 30.0


async def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``, giving other tasks the loop; fail past a generous deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not condition():
        assert loop.time() < deadline, "the condition never came true"
        await asyncio.sleep(0.001)


def test_a_key_holds_at_most_its_share_and_the_others_wait_in_order():
    async def scenario() -> None:
        shares = Shares()
        order: list[int] = []
        turns = [shares.turn("key:a", 2) for _ in range(5)]

        async def run(n: int) -> None:
            await turns[n].take()
            order.append(n)

        tasks = []
        for n in range(5):  # started one after the other: that is their arrival order
            tasks.append(asyncio.create_task(run(n)))
            await until(lambda n=n: shares.holding("key:a") + _waiting(shares) == n + 1)
        await until(lambda: len(order) == 2)
        assert order == [0, 1] and shares.holding("key:a") == 2
        other = shares.turn("key:b", 2)
        await asyncio.wait_for(other.take(), DEADLINE_S)  # another key: no waiting
        for n in (0, 1, 2):
            turns[n].give()
            await until(lambda n=n: len(order) == n + 3)
        assert order == [0, 1, 2, 3, 4]
        for turn in (turns[3], turns[4], other):
            turn.give()
        await asyncio.gather(*tasks)
        assert len(shares) == 0  # no key left behind

    asyncio.run(scenario())


def _waiting(shares: Shares) -> int:
    share = shares._shares.get("key:a")
    return 0 if share is None else share.semaphore.statistics().tasks_waiting


def test_a_turn_given_back_twice_or_never_taken_changes_nothing():
    async def scenario() -> None:
        shares = Shares()
        turn = shares.turn("key:a", 1)
        turn.give()  # never taken
        async with turn:
            assert shares.holding("key:a") == 1
        turn.give()  # already given back by the block
        assert len(shares) == 0
        async with turn:  # and it can be taken again, as an export's chunks do
            assert shares.holding("key:a") == 1
        assert len(shares) == 0

    asyncio.run(scenario())


def test_a_request_cancelled_while_waiting_leaves_nothing_behind():
    async def scenario() -> None:
        shares = Shares()
        first = shares.turn("key:a", 1)
        await first.take()
        waiting = asyncio.create_task(shares.turn("key:a", 1).take())
        await until(lambda: _waiting(shares) == 1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert _waiting(shares) == 0 and shares.holding("key:a") == 1
        first.give()
        assert len(shares) == 0

    asyncio.run(scenario())
