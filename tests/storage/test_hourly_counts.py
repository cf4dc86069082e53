"""Totals from the hourly counts (migration 0005) are exact, whatever was written, replaced
or deleted, and whatever the range."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _raw import raw_rows
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CARDS, CDRS
from atende_logs.models import Condition, SearchQuery
from atende_logs.query.times import MAX_MS
from atende_logs.storage import Store
from atende_logs.storage._hourly import HOUR_MS, hourly_total_sql

BASE_MS = 1_767_614_400_000  # 2026-01-05T12:00:00Z, a whole hour
SPAN_MS = 5 * HOUR_MS

times = st.integers(BASE_MS - HOUR_MS, BASE_MS + SPAN_MS)
# A small pool of ids, so that later batches replace earlier documents, often in other hours.
batches = st.lists(
    st.lists(st.tuples(st.integers(0, 40), times), min_size=1, max_size=30), min_size=1, max_size=4
)
bounds = st.none() | st.integers(BASE_MS - 2 * HOUR_MS, BASE_MS + SPAN_MS + HOUR_MS)


def cdr(callid: int, time_ms: int) -> dict[str, Any]:
    return {"callid": f"c{callid}", "ori_start_time": time_ms, "call_status": "answered"}


def exact_count(url: str, customer_id: int, start: int | None, end: int | None) -> int:
    sql = "SELECT count(*) FROM cdrs WHERE customer_id = ?"
    params: list[Any] = [customer_id]
    if start is not None:
        sql += " AND time_ms >= ?"
        params.append(start)
    if end is not None:
        sql += " AND time_ms <= ?"
        params.append(end)
    return int(raw_rows(url, sql, params)[0][0])


def counts_match_rows(url: str, customer_id: int) -> None:
    hour = f"(time_ms / {HOUR_MS}) * {HOUR_MS}"
    rows = raw_rows(
        url,
        f"SELECT {hour}, count(*) FROM cdrs WHERE customer_id = ? GROUP BY {hour} ORDER BY 1",
        [customer_id],
    )
    counted = raw_rows(
        url,
        "SELECT hour_ms, row_count FROM hourly_counts WHERE customer_id = ? AND kind = 'cdrs' "
        "AND dialer_id = 0 AND row_count != 0 ORDER BY 1",
        [customer_id],
    )
    assert [tuple(r) for r in counted] == [tuple(r) for r in rows]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=batches, ranges=st.lists(st.tuples(bounds, bounds), min_size=1, max_size=6))
def test_totals_are_exact_after_writes_and_replacements(
    store: Store, database_url: str, batches: list[list[tuple[int, int]]], ranges: Any
) -> None:
    customer = store.create_customer("hourly")
    for batch in batches:
        ingest(store, customer.id, CDRS, as_records([cdr(i, t) for i, t in batch]), zone=UTC)
    counts_match_rows(database_url, customer.id)
    for start, end in ranges:
        query = SearchQuery(kind=CDRS, customer_id=customer.id, size=1, start_ms=start, end_ms=end)
        assert store.search(query).total == exact_count(database_url, customer.id, start, end)


def test_long_unfiltered_listings_are_counted_by_hour() -> None:
    query = SearchQuery(
        kind=CDRS, customer_id=1, size=10, start_ms=BASE_MS + 1, end_ms=BASE_MS + SPAN_MS
    )
    sql, params = hourly_total_sql(query, None) or ("", [])
    assert "hourly_counts" in sql
    # The whole hours are summed; the partial first hour is counted row by row.
    assert params[3:5] == [BASE_MS + HOUR_MS, BASE_MS + SPAN_MS]
    # No bounds: every whole hour from the epoch to the last representable time.
    unbounded = hourly_total_sql(SearchQuery(kind=CDRS, customer_id=1, size=10), None)
    assert unbounded and unbounded[1][3:5] == [0, (MAX_MS + 1) // HOUR_MS * HOUR_MS]


def test_short_or_filtered_listings_are_counted_row_by_row() -> None:
    short = SearchQuery(
        kind=CDRS, customer_id=1, size=10, start_ms=BASE_MS + 1, end_ms=BASE_MS + HOUR_MS
    )
    assert hourly_total_sql(short, None) is None  # no whole hour inside
    whole = SearchQuery(
        kind=CDRS, customer_id=1, size=10, start_ms=BASE_MS, end_ms=BASE_MS + HOUR_MS - 1
    )
    one_hour = hourly_total_sql(whole, None)
    assert one_hour and one_hour[1][3:5] == [BASE_MS, BASE_MS + HOUR_MS]  # exactly one hour
    spec = CDRS.filter("call_status")
    assert spec is not None
    filtered = SearchQuery(
        kind=CDRS,
        customer_id=1,
        size=10,
        conditions=(Condition(spec, "answered"),),
    )
    assert hourly_total_sql(filtered, None) is None


def test_deletes_are_counted(store: Store, database_url: str) -> None:
    customer = store.create_customer("hourly deletes")
    docs = [cdr(i, BASE_MS + i * 600_000) for i in range(20)]  # 20 rows over 3 h 10 min; 11 deleted
    ingest(store, customer.id, CDRS, as_records(docs), zone=UTC)
    delete_rows(database_url, customer.id, BASE_MS + 3_000_000, BASE_MS + 9_000_000)
    counts_match_rows(database_url, customer.id)
    query = SearchQuery(kind=CDRS, customer_id=customer.id, size=1)
    assert store.search(query).total == exact_count(database_url, customer.id, None, None) == 9


def delete_rows(url: str, customer_id: int, start: int, end: int) -> None:
    """A DELETE behind the store's back: the counts follow every writer, not only ours."""
    sql = "DELETE FROM cdrs WHERE customer_id = ? AND time_ms BETWEEN ? AND ?"
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url[len("sqlite:///") :])) as connection:
            connection.execute(sql, [customer_id, start, end])
            connection.commit()
    else:
        with psycopg.connect(url) as connection:
            connection.execute(sql.replace("?", "%s"), [customer_id, start, end])


card_writes = st.lists(
    st.lists(
        st.tuples(st.integers(0, 20), st.sampled_from([0, 1]), times), min_size=1, max_size=20
    ),
    min_size=1,
    max_size=3,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes=card_writes)
def test_card_counts_are_kept_per_dialer(
    store: Store, database_url: str, writes: list[list[tuple[int, int, int]]]
) -> None:
    """Cards are counted per dialer: two dialers' cards, replaced across hours."""
    customer = store.create_customer("hourly cards")
    dialers = [store.create_dialer(customer.id, f"d{n}")[0].id for n in range(2)]
    for batch in writes:
        for which in (0, 1):
            docs = [
                {"id": f"k{i}", "number": "5511999990000", "timestamp": time_ms}
                for i, dialer, time_ms in batch
                if dialer == which
            ]
            records = as_records(docs)
            ingest(store, customer.id, CARDS, records, zone=UTC, dialer_id=dialers[which])
    hour = f"(time_ms / {HOUR_MS}) * {HOUR_MS}"
    rows = raw_rows(
        database_url,
        f"SELECT dialer_id, {hour}, count(*) FROM cards WHERE customer_id = ? "
        f"GROUP BY dialer_id, {hour} ORDER BY 1, 2",
        [customer.id],
    )
    counted = raw_rows(
        database_url,
        "SELECT dialer_id, hour_ms, row_count FROM hourly_counts WHERE customer_id = ? "
        "AND kind = 'cards' AND row_count != 0 ORDER BY 1, 2",
        [customer.id],
    )
    assert [tuple(r) for r in counted] == [tuple(r) for r in rows]
