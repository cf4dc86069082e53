"""A listing's total is counted once per data version and stays exact across writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from atende_logs.config import Settings
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CDRS
from atende_logs.models import Condition, Cursor, Customer, SearchQuery
from atende_logs.storage import Store, open_store
from atende_logs.storage._counts import CountCache


def cdr(callid: str, second: int) -> dict[str, Any]:
    start = datetime(2026, 1, 5, 12, 0, second, tzinfo=UTC).isoformat()
    return {"callid": callid, "ori_start_time": start, "call_status": "answered"}


def store_cdrs(store: Store, customer: Customer, *docs: dict[str, Any]) -> None:
    ingest(store, customer.id, CDRS, as_records(docs), zone=UTC)


def test_cache_returns_a_total_only_for_its_version() -> None:
    cache = CountCache(capacity=2)
    cache.put(("a",), 1, 10)
    assert cache.get(("a",), 1) == 10
    assert cache.get(("a",), 2) is None
    cache.put(("b",), 1, 20)
    cache.get(("a",), 1)  # "a" is now the most recently used
    cache.put(("c",), 1, 30)
    assert cache.get(("b",), 1) is None  # evicted: least recently used
    assert cache.get(("a",), 1) == 10 and cache.get(("c",), 1) == 30


def test_later_pages_reuse_the_count(
    store: Store, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_cdrs(store, customer, *(cdr(f"c{n:02}", n) for n in range(10)))
    counted: list[str] = []
    one = store._one

    def spy(connection: Any, sql: str, params: Any) -> Any:
        if "count(*)" in sql:  # a plain count, or one from the hourly counts
            counted.append(sql)
        return one(connection, sql, params)

    monkeypatch.setattr(store, "_one", spy)
    query = SearchQuery(kind=CDRS, customer_id=customer.id, size=3)
    first = store.search(query)
    after = first.after
    pages = 1
    while after is not None:
        page = store.search(
            SearchQuery(kind=CDRS, customer_id=customer.id, size=3, after=Cursor(int(after)))
        )
        assert page.total == 10
        after, pages = page.after, pages + 1
    assert first.total == 10 and pages == 5
    assert len(counted) == 1


def test_filters_sharing_a_value_do_not_share_a_count(store: Store, customer: Customer) -> None:
    """Their statements differ in the column only: the cache tells them apart (issue 21)."""
    docs = [{**cdr(f"p{n}", n), "period": "worktime"} for n in range(6)]
    docs += [{**cdr(f"c{n}", 10 + n), "call_terminated": "worktime"} for n in range(3)]
    store_cdrs(store, customer, *docs)

    def total(param: str) -> int:
        spec = CDRS.filter(param)
        assert spec is not None
        condition = Condition(spec, "worktime")
        query = SearchQuery(kind=CDRS, customer_id=customer.id, size=1, conditions=(condition,))
        return store.search(query).total

    assert (total("period"), total("call_terminated"), total("period")) == (6, 3, 6)


def test_a_write_between_pages_shows_in_the_next_total(store: Store, customer: Customer) -> None:
    store_cdrs(store, customer, *(cdr(f"c{n:02}", n) for n in range(6)))
    first = store.search(SearchQuery(kind=CDRS, customer_id=customer.id, size=2))
    assert first.total == 6 and isinstance(first.after, int)
    second = SearchQuery(kind=CDRS, customer_id=customer.id, size=2, after=Cursor(first.after))
    assert store.search(second).total == 6
    store_cdrs(store, customer, cdr("new", 30))
    assert store.search(second).total == 7
    store_cdrs(store, customer, cdr("new", 31))  # a replacement: same id, new time
    assert store.search(second).total == 7


def test_versions_are_per_customer(store: Store, customer: Customer) -> None:
    other = store.create_customer("other")
    store_cdrs(store, customer, *(cdr(f"c{n:02}", n) for n in range(4)))
    store_cdrs(store, other, *(cdr(f"c{n:02}", n) for n in range(5)))
    deep = SearchQuery(kind=CDRS, customer_id=customer.id, size=1, after=Cursor(0))
    assert store.search(deep).total == 4
    store_cdrs(store, other, cdr("more", 40))
    assert store.search(deep).total == 4
    other_deep = SearchQuery(kind=CDRS, customer_id=other.id, size=1, after=Cursor(0))
    assert store.search(other_deep).total == 6


def test_a_write_between_a_page_and_its_count_is_not_mixed_into_the_total(
    store: Store, customer: Customer, app_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page and the count are separate reads (statements, on PostgreSQL): a write landing
    between them must not give a page of the old data with a total of the new."""
    store_cdrs(store, customer, *(cdr(f"c{n:02}", 10 + n) for n in range(10)))
    writer = open_store(app_settings)  # another connection, as another process would use
    fetch = store._fetch_page  # type: ignore[attr-defined]
    reads: list[int] = []

    def write_after_the_first_read(connection: Any, sql: str, params: Any) -> Any:
        found = fetch(connection, sql, params)
        if not reads:
            store_cdrs(writer, customer, cdr("early", 0))  # sorts first: on the page if seen
        reads.append(len(found[0]))
        return found

    monkeypatch.setattr(store, "_fetch_page", write_after_the_first_read)
    try:
        page = store.search(SearchQuery(kind=CDRS, customer_id=customer.id, size=3))
    finally:
        writer.close()

    seen = any(b'"early"' in item for item in page.items)
    assert page.total == (11 if seen else 10)
    # PostgreSQL read the page outside a transaction, so it read it again in one snapshot
    # with its count; SQLite read both in one transaction from the start.
    assert seen == (store.backend == "postgresql")
    assert len(reads) == (2 if store.backend == "postgresql" else 1)
