"""``Prefetched``: the source's items in order, fetched ahead by one thread, its errors raised
where they came, and no more fetched than ``depth`` ahead once the caller stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atende_logs.client.prefetch import Prefetched


class Boom(Exception):
    pass


def _source(items: list[int], fail_at: int | None, taken: list[int]) -> Iterator[int]:
    for n, item in enumerate(items):
        if n == fail_at:
            raise Boom(n)
        taken.append(item)
        yield item


@settings(max_examples=50, deadline=None)
@given(
    items=st.lists(st.integers(), max_size=30),
    fail_at=st.none() | st.integers(0, 30),
    depth=st.integers(1, 3),
)
def test_items_in_order_then_the_error_where_it_came(
    items: list[int], fail_at: int | None, depth: int
) -> None:
    got: list[int] = []
    taken: list[int] = []
    failing = fail_at is not None and fail_at < len(items)
    with Prefetched(_source(items, fail_at, taken), depth) as ahead:
        if failing:
            with pytest.raises(Boom):
                got.extend(ahead)
        else:
            got.extend(ahead)
        assert next(ahead, "end") == "end"  # exhausted, or failed, it stays so
    assert got == (items[:fail_at] if failing else items)


def test_the_next_item_is_fetched_while_the_caller_holds_this_one() -> None:
    fetched = [threading.Event() for _ in range(3)]

    def source() -> Iterator[int]:
        for n in range(3):
            fetched[n].set()
            yield n

    with Prefetched(source()) as ahead:
        assert next(ahead) == 0
        assert fetched[1].wait(5), "the second item was not fetched ahead"


def test_a_caller_that_stops_stops_the_fetching() -> None:
    taken: list[int] = []
    ahead = Prefetched(_source(list(range(1000)), None, taken), depth=2)
    assert next(ahead) == 0
    thread = ahead._thread
    ahead.close()
    thread.join(5)
    assert not thread.is_alive()
    # The one handed over, two queued and at most one in the thread's hands.
    assert len(taken) <= 4
    with pytest.raises(StopIteration):
        next(ahead)
