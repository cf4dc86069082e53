"""Migration 0012: the erasure audit's counts move to erasure_counts, a row per kind, on
both databases; audits from before it, and from an older release during a rolling deploy,
read as they were written."""

from __future__ import annotations

from _raw import raw_rows, raw_write
from atende_logs.config import Settings
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, KINDS
from atende_logs.storage import open_store
from atende_logs.storage.migrate import downgrade, upgrade

BEFORE = "0011_ingest_key_scope"
OLD_AUDIT = (
    "INSERT INTO erasures (customer_id, requested_by, erased_at_ms, phone_last_digits, "
    "attendant_logs, cdrs, cards) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _counts(url: str) -> list[tuple[object, ...]]:
    return raw_rows(
        url, "SELECT erasure_id, kind, documents FROM erasure_counts ORDER BY erasure_id, kind", []
    )


def test_counts_move_to_a_row_per_kind_and_back(fresh_url: str) -> None:
    upgrade(fresh_url, BEFORE)
    raw_write(fresh_url, "INSERT INTO customers (name, created_at_ms) VALUES ('c', 0)", [])
    (customer_id,) = raw_rows(fresh_url, "SELECT id FROM customers", [])[0]
    raw_write(fresh_url, OLD_AUDIT, [customer_id, "ticket 1", 1000, "4321", 2, 3, 1])
    raw_write(fresh_url, OLD_AUDIT, [customer_id, "ticket 2", 2000, "9876", 0, 0, 0])

    upgrade(fresh_url)
    first, second = (
        row[0] for row in raw_rows(fresh_url, "SELECT id FROM erasures ORDER BY id", [])
    )
    assert _counts(fresh_url) == [
        (first, "attendant-logs", 2),
        (first, "cards", 1),
        (first, "cdrs", 3),
        (second, "attendant-logs", 0),
        (second, "cards", 0),
        (second, "cdrs", 0),
    ]
    # An older release's CLI, still running during a rolling deploy, audits as it did.
    raw_write(fresh_url, OLD_AUDIT, [customer_id, "ticket 3", 3000, "1111", 5, 0, 4])
    store = open_store(Settings(database_url=fresh_url))
    try:
        audited = store.list_erasures(customer_id)
        assert [(e.requested_by, e.phone_last_digits, e.counts) for e in audited] == [
            ("ticket 1", "4321", {"attendant-logs": 2, "cdrs": 3, "cards": 1}),
            ("ticket 2", "9876", {"attendant-logs": 0, "cdrs": 0, "cards": 0}),
            ("ticket 3", "1111", {"attendant-logs": 5, "cdrs": 0, "cards": 4}),
        ]
        erased = store.erase_phone(customer_id, "(11) 98765-4321", "ticket 4")
    finally:
        store.close()
    assert erased.counts == dict.fromkeys(KINDS, 0)
    assert [row[1:] for row in _counts(fresh_url) if row[0] == erased.id] == [
        ("attendant-logs", 0),
        ("cards", 0),
        ("cdrs", 0),
    ]

    # The old columns were written too: the previous release reads every audit after a
    # downgrade, this one's included.
    downgrade(fresh_url, BEFORE)
    columns = ", ".join(kind.table for kind in (ATTENDANT_LOGS, CDRS, CARDS))
    rows = raw_rows(fresh_url, f"SELECT requested_by, {columns} FROM erasures ORDER BY id", [])
    assert rows == [
        ("ticket 1", 2, 3, 1),
        ("ticket 2", 0, 0, 0),
        ("ticket 3", 5, 0, 4),
        ("ticket 4", 0, 0, 0),
    ]
