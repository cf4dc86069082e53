"""The counts per hour and split value (migration 0016, PostgreSQL) equal the table's own
grouping, whatever was written, replaced (to another value, another hour, or both) or
deleted, behind the store's back too; and a stats request served from them answers as one
that reads the rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _raw import raw_rows, raw_write
from atende_logs.config import Settings
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, Kind
from atende_logs.models import SearchQuery, StatsQuery
from atende_logs.storage import Store, open_store
from atende_logs.storage._hourly import HOUR_MS
from atende_logs.storage._stats import stats_sql

pytestmark = pytest.mark.postgres

BASE_MS = 1_767_614_400_000  # 2026-01-05T12:00:00Z, a whole hour
STATUSES = ["answered", "busy", None, ""]

# Times on the quarter hour, so that a record sent again often keeps its time (an update in
# place, the other value counted) as well as moving (its row deleted and inserted).
times = st.integers(-2, 8).map(lambda q: BASE_MS + q * 15 * 60_000)
# A small pool of ids, so that later batches replace earlier records: in another hour, with
# another value, or both.
writes = st.lists(
    st.lists(
        st.tuples(st.integers(0, 6), times, st.sampled_from(STATUSES), st.sampled_from([0, 1])),
        min_size=1,
        max_size=25,
    ),
    min_size=1,
    max_size=4,
)


@pytest.fixture(scope="module")
def store(postgres_url: str) -> Iterator[Store]:
    opened = open_store(Settings(database_url=postgres_url))
    yield opened
    opened.close()


def document(kind: Kind, n: int, time_ms: int, value: str | None) -> dict[str, Any]:
    """A record of ``kind`` whose split fields all hold ``value`` (None: left out)."""
    doc: dict[str, Any] = {kind.id_field: f"r{n}", kind.time_field: time_ms}
    if kind is CARDS:
        doc["number"] = "5511999990000"
    for param in kind.splits:
        if value is not None:
            spec = kind.filter(param)
            assert spec is not None
            doc[spec.paths[0][0]] = value
    return doc


def counts_match_rows(url: str, kind: Kind, customer_id: int) -> None:
    hour = f"(time_ms / {HOUR_MS}) * {HOUR_MS}"
    dialer = "dialer_id" if kind.scope.by_dialer else "0"
    for param in kind.splits:
        spec = kind.filter(param)
        assert spec is not None
        column = spec.column
        rows = raw_rows(
            url,
            f"SELECT {dialer}, {hour}, coalesce({column}, ''), count(*) FROM {kind.table} "
            f"WHERE customer_id = ? GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            [customer_id],
        )
        counted = raw_rows(
            url,
            "SELECT dialer_id, hour_ms, value, row_count FROM split_counts WHERE customer_id = ? "
            "AND kind = ? AND split = ? AND row_count != 0 ORDER BY 1, 2, 3",
            [customer_id, kind.table, column],
        )
        assert [tuple(r) for r in counted] == [tuple(r) for r in rows], param


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from([ATTENDANT_LOGS, CDRS, CARDS]),
    batches=writes,
    cut=st.none() | st.integers(BASE_MS - HOUR_MS, BASE_MS + 5 * HOUR_MS),
)
def test_counts_follow_writes_replacements_and_deletes(
    store: Store, postgres_url: str, kind: Kind, batches: list[list[Any]], cut: int | None
) -> None:
    customer = store.create_customer("split counts")
    dialers = [store.create_dialer(customer.id, f"d{n}")[0].id for n in range(2)]
    for batch in batches:
        for which in (0, 1) if kind.scope.by_dialer else (0,):
            docs = [
                document(kind, n, time_ms, value)
                for n, time_ms, value, dialer in batch
                if dialer == which or not kind.scope.by_dialer
            ]
            dialer_id = dialers[which] if kind.scope.by_dialer else None
            ingest(store, customer.id, kind, as_records(docs), zone=UTC, dialer_id=dialer_id)
        counts_match_rows(postgres_url, kind, customer.id)
    if cut is not None:  # a DELETE behind the store's back: the triggers follow any writer
        raw_write(
            postgres_url,
            f"DELETE FROM {kind.table} WHERE customer_id = ? AND time_ms < ?",
            [customer.id, cut],
        )
        counts_match_rows(postgres_url, kind, customer.id)


def test_a_record_sent_again_moves_its_count(store: Store, postgres_url: str) -> None:
    """In place (same time, another value: an UPDATE), to another hour (the row deleted and
    inserted), both, and removed."""
    customer = store.create_customer("split moves")
    steps = [
        (BASE_MS, "answered"),
        (BASE_MS, "busy"),  # the same row updated: busy replaces answered in the hour
        (BASE_MS + 2 * HOUR_MS, "busy"),  # moved to another hour
        (BASE_MS + 3 * HOUR_MS, None),  # moved again, and its value gone
    ]
    for time_ms, value in steps:
        put = as_records([document(CDRS, 1, time_ms, value)])
        ingest(store, customer.id, CDRS, put, zone=UTC)
        counted = raw_rows(
            postgres_url,
            "SELECT hour_ms, value, row_count FROM split_counts WHERE customer_id = ? "
            "AND row_count != 0",
            [customer.id],
        )
        assert counted == [(time_ms, value or "", 1)]
    raw_write(postgres_url, "DELETE FROM cdrs WHERE customer_id = ?", [customer.id])
    assert raw_rows(
        postgres_url,
        "SELECT count(*) FROM split_counts WHERE customer_id = ? AND row_count != 0",
        [customer.id],
    ) == [(0,)]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=writes,
    low=st.integers(BASE_MS - 2 * HOUR_MS, BASE_MS + 3 * HOUR_MS),
    length=st.integers(1, 8 * HOUR_MS),
)
def test_a_split_from_the_counts_answers_as_one_from_the_rows(
    store: Store, batches: list[list[Any]], low: int, length: int
) -> None:
    customer = store.create_customer("split stats")
    for batch in batches:
        docs = [document(CDRS, n, time_ms, value) for n, time_ms, value, _ in batch]
        ingest(store, customer.id, CDRS, as_records(docs), zone=UTC)
    high = low + length
    listing = SearchQuery(CDRS, customer.id, 1, start_ms=low, end_ms=high)
    query = StatsQuery(listing, (low, high + 1), HOUR_MS, "hour", CDRS.filter("call_status"))
    counted_sql, _ = stats_sql(query, None, split_counts=True)
    whole_hour = -(-low // HOUR_MS) * HOUR_MS + HOUR_MS <= high + 1
    assert ("split_counts" in counted_sql) == whole_hour
    from_counts = store.stats(query)
    by_rows: dict[tuple[int, str], int] = {}
    for group, value, count in _rows_way(store, query):
        by_rows[(group, value or "")] = by_rows.get((group, value or ""), 0) + count
    by_counts: dict[tuple[int, str], int] = {}
    for group, value, count in from_counts:
        by_counts[(group, value or "")] = by_counts.get((group, value or ""), 0) + count
    assert {k: v for k, v in by_counts.items() if v} == {k: v for k, v in by_rows.items() if v}


def _rows_way(store: Store, query: StatsQuery) -> list[tuple[int, Any, int]]:
    """The same request answered by reading the rows (as SQLite does)."""
    sql, params = stats_sql(query, None, split_counts=False)
    assert "split_counts" not in sql
    return [(int(g), v, int(c)) for g, v, c in store._all(sql, params)]  # type: ignore[attr-defined]
