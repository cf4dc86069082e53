"""Retention purge (LGPD, issue 5): exactly the rows past retention go, totals stay exact,
and ingestion carries on while a purge runs. The clock is passed in, shifted, never slept."""

from __future__ import annotations

import threading
from datetime import UTC
from typing import Any

import pytest

from _raw import raw_rows
from atende_logs.errors import NotFoundError
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import ATTENDANT_LOGS, CDRS, KINDS, Kind
from atende_logs.models import Condition, Customer, SearchQuery
from atende_logs.retention import DAY_MS, purge
from atende_logs.storage import Store

NOW_MS = 1_780_272_000_000  # 2026-06-01T00:00:00Z
HOUR_MS = 3_600_000
AGES_DAYS = [0, 1, 10, 29, 30, 31, 45, 90, 400]
"""Ages of the documents each kind gets, at NOW_MS (some also a few hours older)."""


def doc(kind: Kind, n: int, time_ms: int) -> dict[str, Any]:
    if kind is CDRS:
        return {"callid": f"c{n}", "ori_start_time": time_ms, "call_status": "answered"}
    if kind is ATTENDANT_LOGS:
        return {"id": f"a{n}", "timestamp": time_ms, "kind": "status"}
    return {"id": f"k{n}", "timestamp": time_ms, "number": "5511987654321", "status": "to_call"}


def store_docs(
    store: Store, customer: Customer, kind: Kind, times: list[int], first: int = 0
) -> None:
    dialer_id = None
    if kind.scope.by_dialer:
        dialers = store.list_dialers(customer.id)
        dialer_id = dialers[0].id if dialers else store.create_dialer(customer.id, "d")[0].id
    docs = [doc(kind, first + n, t) for n, t in enumerate(times)]
    ingest(store, customer.id, kind, as_records(docs), zone=UTC, dialer_id=dialer_id)


def spread() -> list[int]:
    """Times at each age, and 1 ms and 5 hours either side of it."""
    return sorted(
        NOW_MS - age * DAY_MS + delta
        for age in AGES_DAYS
        for delta in (-5 * HOUR_MS, -1, 0, 1, 5 * HOUR_MS)
        if NOW_MS - age * DAY_MS + delta <= NOW_MS
    )


def stored_times(url: str, customer_id: int, kind: Kind) -> list[int]:
    rows = raw_rows(
        url,
        f"SELECT time_ms FROM {kind.table} WHERE customer_id = ? ORDER BY time_ms",
        [customer_id],
    )
    return [int(row[0]) for row in rows]


def store_total(store: Store, customer: Customer, kind: Kind, **query: Any) -> int:
    token = None
    if kind.scope.by_dialer:
        token = store.rotate_dialer_token(customer.id, store.list_dialers(customer.id)[0].id)
    search = SearchQuery(kind, customer.id, size=1, dialer_token=token, **query)
    return store.search(search).total


def assert_totals_exact(store: Store, url: str, customer: Customer) -> None:
    """The store's totals (hourly counts, count cache) against a direct count of rows."""
    for kind in KINDS.values():
        times = stored_times(url, customer.id, kind)
        assert store_total(store, customer, kind) == len(times), kind.name
        start = NOW_MS - 60 * DAY_MS
        in_range = [t for t in times if t >= start]
        assert store_total(store, customer, kind, start_ms=start) == len(in_range), kind.name
    status = CDRS.filter("call_status")
    assert status is not None
    filtered = SearchQuery(CDRS, customer.id, size=1, conditions=(Condition(status, "answered"),))
    assert store.search(filtered).total == len(stored_times(url, customer.id, CDRS))
    hour = f"(time_ms / {HOUR_MS}) * {HOUR_MS}"
    for kind in KINDS.values():
        rows = raw_rows(
            url,
            f"SELECT {hour}, count(*) FROM {kind.table} WHERE customer_id = ? GROUP BY {hour} "
            "ORDER BY 1",
            [customer.id],
        )
        counted = raw_rows(
            url,
            "SELECT hour_ms, sum(row_count) FROM hourly_counts WHERE customer_id = ? "
            "AND kind = ? GROUP BY hour_ms HAVING sum(row_count) != 0 ORDER BY 1",
            [customer.id, kind.table],
        )
        assert [tuple(r) for r in counted] == [tuple(r) for r in rows], kind.name


def test_purge_removes_exactly_what_is_past_retention(
    store: Store, database_url: str, customer: Customer
) -> None:
    times = spread()
    for kind in KINDS.values():
        store_docs(store, customer, kind, times)
    store.set_retention(customer.id, 30)
    assert_totals_exact(store, database_url, customer)  # totals cached before the purge

    for shift_days in (0, 10, 400):  # the same purge, run on later and later days
        now = NOW_MS + shift_days * DAY_MS
        before = {kind: stored_times(database_url, customer.id, kind) for kind in KINDS.values()}
        done = purge(
            store, default_days=9999, now_ms=now, customer_id=customer.id, batch_size=4, pause_s=0
        )
        cutoff = now - 30 * DAY_MS
        for kind in KINDS.values():
            kept = [t for t in before[kind] if t >= cutoff]
            assert stored_times(database_url, customer.id, kind) == kept
            (report,) = [p for p in done if p.kind == kind.name]
            assert report.deleted == len(before[kind]) - len(kept)
            assert (report.retention_days, report.before_ms) == (30, cutoff)
        assert_totals_exact(store, database_url, customer)
    assert all(stored_times(database_url, customer.id, kind) == [] for kind in KINDS.values())


def test_default_retention_dry_run_and_other_customers(
    store: Store, database_url: str, customer: Customer
) -> None:
    other = store.create_customer("other tenant")
    times = spread()
    for owner in (customer, other):
        for kind in KINDS.values():
            store_docs(store, owner, kind, times)
    # A dry run counts from the hourly counts and the partial hour: cutoffs on the hour
    # and inside one (1 ms past a document's time).
    for now in (NOW_MS, NOW_MS + 5 * HOUR_MS + 2, NOW_MS - 5 * HOUR_MS + 1):
        expected = len([t for t in times if t < now - 90 * DAY_MS])
        dry = purge(store, default_days=90, now_ms=now, customer_id=customer.id, dry_run=True)
        assert [(p.kind, p.deleted, p.retention_days) for p in dry] == [
            (kind.name, expected, 90) for kind in KINDS.values()
        ]
    expected = len([t for t in times if t < NOW_MS - 90 * DAY_MS])
    assert expected > 0
    assert all(stored_times(database_url, customer.id, k) == times for k in KINDS.values())

    store.set_retention(customer.id, 7)
    store.set_retention(customer.id, None)  # back to the default
    assert customer.id not in store.retention_days()
    done = purge(store, default_days=90, now_ms=NOW_MS, customer_id=customer.id, pause_s=0)
    assert [p.deleted for p in done] == [expected] * 3
    for kind in KINDS.values():
        assert len(stored_times(database_url, customer.id, kind)) == len(times) - expected
        assert stored_times(database_url, other.id, kind) == times  # never the other tenant's
    assert_totals_exact(store, database_url, other)


def test_purge_of_every_customer_uses_each_ones_retention(
    store: Store, database_url: str, customer: Customer
) -> None:
    store_docs(store, customer, CDRS, spread())
    store.set_retention(customer.id, 1)
    done = purge(store, default_days=100_000, now_ms=NOW_MS, pause_s=0)
    mine = [p for p in done if p.customer_id == customer.id and p.kind == "cdrs"]
    assert [p.retention_days for p in mine] == [1]
    assert stored_times(database_url, customer.id, CDRS) == [
        t for t in spread() if t >= NOW_MS - DAY_MS
    ]


def test_unknown_customers_are_refused(store: Store) -> None:
    with pytest.raises(NotFoundError):
        purge(store, default_days=30, customer_id=2_000_000_000)
    with pytest.raises(NotFoundError):
        store.set_retention(2_000_000_000, 30)


def test_ingestion_carries_on_during_a_purge(
    store: Store, database_url: str, customer: Customer
) -> None:
    old = [NOW_MS - 400 * DAY_MS + n * 1000 for n in range(600)]
    store_docs(store, customer, CDRS, old)
    failures: list[BaseException] = []
    batches = 40

    def keep_ingesting() -> None:
        try:
            for batch in range(batches):
                recent = [NOW_MS - batch * 60_000 - n for n in range(25)]
                store_docs(store, customer, CDRS, recent, first=10_000 + batch * 25)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    writer = threading.Thread(target=keep_ingesting)
    writer.start()
    done = purge(
        store, default_days=30, now_ms=NOW_MS, customer_id=customer.id, batch_size=7, pause_s=0.001
    )
    writer.join()
    assert failures == []
    (cdrs,) = [p for p in done if p.kind == "cdrs"]
    assert cdrs.deleted == len(old)
    stored = stored_times(database_url, customer.id, CDRS)
    assert len(stored) == batches * 25 and min(stored) > NOW_MS - DAY_MS
    assert store_total(store, customer, CDRS) == batches * 25
