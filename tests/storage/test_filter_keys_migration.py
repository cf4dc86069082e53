"""Migration 0010: rows stored with the keys of before issue 21 get today's keys, and back.

Rows are stored at revision 0009 as that release stored them: through the store, then with
their filter columns set to what the code of 0009 computed (written out below by hand). Today's
store writes the change feed's tables of 0013, so it stores them at the head and the schema is
then taken back to 0009 before the keys are set.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC
from typing import Any

import orjson

from _raw import raw_rows, raw_write
from atende_logs.config import Settings
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, Kind
from atende_logs.models import Condition, SearchQuery
from atende_logs.storage import Store, open_store
from atende_logs.storage.migrate import downgrade, upgrade

BEFORE = "0009_sqlite_upsert_counts"
BASE_MS = 1_700_000_000_000
HOUR_MS = 3_600_000
NFD_NAO = unicodedata.normalize("NFD", "NÃO")
NFD_JOAO = unicodedata.normalize("NFD", "JOÃO")

# (document, {column: (key before 0010, key after)}) for the columns whose key changed.
ATTENDANT = [
    (
        {
            "id": "a1",
            "timestamp": BASE_MS,
            "ani_number": "+55 (11) 98765-4321",
            "extension_number": "019",
            "attendant": {"name": NFD_JOAO, "email": "JOAO@X.COM"},
            "kind": NFD_NAO,
            "duration": "29,5",
        },
        {
            "ani": ("5511987654321", "11987654321"),
            "extension_number": ("019", "19"),
            "attendant_name": (NFD_JOAO.casefold(), "joão"),
            "attendant_email": ("joao@x.com", "joao@x.com"),
            "kind": (NFD_NAO, "NÃO"),
            "duration": (None, 29.5),
        },
    ),
    (
        {"id": "a2", "timestamp": BASE_MS + HOUR_MS, "ani_number": 5563984866338, "kind": "x"},
        {"ani": ("5563984866338", "63984866338"), "kind": ("x", "x")},
    ),
]
CDR_DOCS = [
    (
        {
            "callid": "c1",
            "ori_start_time": BASE_MS,
            "alt_dnis": "0800 887 0608",
            "total_charge": "1,35",
            "call_status": NFD_NAO,
        },
        {
            "alt_dnis": ("08008870608", "08008870608"),
            "total_charge": (None, "1.35"),
            "call_status": (NFD_NAO, "NÃO"),
        },
    ),
    (
        {"callid": "c2", "ori_start_time": BASE_MS, "alt_dnis": "5508008870608"},
        {"alt_dnis": ("5508008870608", "08008870608")},
    ),
    (
        {"callid": "c3", "ori_start_time": BASE_MS, "total_charge": "1e2", "period": "worktime"},
        {"total_charge": ("100", None), "period": ("worktime", "worktime")},
    ),
]
CARD_DOCS = [
    (
        {"id": "k1", "timestamp": BASE_MS, "number": "(21) 99999-9999", "card_info_3": NFD_NAO},
        {"number": ("21999999999", "21999999999"), "card_info_3": (NFD_NAO, "NÃO")},
    ),
    (
        {"id": "k2", "timestamp": BASE_MS, "number": "5521999999999"},
        {"number": ("5521999999999", "21999999999")},
    ),
]
CASES: dict[Kind, list[tuple[dict[str, Any], dict[str, tuple[Any, Any]]]]] = {
    ATTENDANT_LOGS: ATTENDANT,
    CDRS: CDR_DOCS,
    CARDS: CARD_DOCS,
}
LONG = "\u0958" * 600
"""1,800 bytes of UTF-8, 3,600 in NFC (U+0958 is excluded from composition): a key this
long would fail its index entry, so the migration leaves the row's old key."""
UNCHANGED = 2_050
"""CDRs whose keys no revision changes, more than a batch of the migration (2,000)."""


def columns(url: str, customer: int, kind: Kind, doc_id: str, names: list[str]) -> dict[str, Any]:
    row = raw_rows(
        url,
        f"SELECT {', '.join(names)} FROM {kind.table} WHERE customer_id = ? AND doc_id = ?",
        [customer, doc_id],
    )
    return dict(zip(names, row[0], strict=True))


def counts(url: str, customer: int) -> list[tuple[Any, ...]]:
    return sorted(
        raw_rows(
            url,
            "SELECT kind, dialer_id, hour_ms, row_count FROM hourly_counts WHERE customer_id = ?",
            [customer],
        )
    )


def versions(url: str, customer: int) -> dict[str, int]:
    rows = raw_rows(
        url, "SELECT kind, version FROM data_versions WHERE customer_id = ?", [customer]
    )
    return {str(kind): int(version) for kind, version in rows}


def stored_as_before(url: str) -> tuple[int, int, str]:
    """A customer's documents at revision 0009 with 0009's keys: (customer, dialer, token)."""
    upgrade(url)
    store = open_store(Settings(database_url=url))
    try:
        customer = store.create_customer("antes da 0010")
        dialer, token = store.create_dialer(customer.id, "discador")
        for kind, cases in CASES.items():
            dialer_id = dialer.id if kind.scope.by_dialer else None
            docs = [doc for doc, _ in cases]
            ingest(store, customer.id, kind, as_records(docs), zone=UTC, dialer_id=dialer_id)
        filler = [
            {"callid": f"f{n:05d}", "ori_start_time": BASE_MS + n, "period": "ok"}
            for n in range(UNCHANGED)
        ]
        ingest(store, customer.id, CDRS, as_records(filler), zone=UTC)
    finally:
        store.close()
    downgrade(url, BEFORE)
    raw_write(  # a row whose text grows in NFC past the index entry limit (see below)
        url,
        "INSERT INTO attendant_logs (customer_id, doc_id, time_ms, doc, description) "
        "VALUES (?, 'long', ?, ?, ?)",
        [customer.id, BASE_MS, orjson.dumps({"description": LONG}).decode(), LONG],
    )
    for kind, cases in CASES.items():
        for doc, keys in cases:
            sets = ", ".join(f"{column} = ?" for column in keys)
            raw_write(
                url,
                f"UPDATE {kind.table} SET {sets} WHERE customer_id = ? AND doc_id = ?",
                [*(old for old, _ in keys.values()), customer.id, doc[_id(kind)]],
            )
    return customer.id, dialer.id, token


def _id(kind: Kind) -> str:
    return "callid" if kind is CDRS else "id"


def assert_keys(url: str, customer: int, which: int) -> None:
    for kind, cases in CASES.items():
        for doc, keys in cases:
            found = columns(url, customer, kind, doc[_id(kind)], list(keys))
            assert found == {column: pair[which] for column, pair in keys.items()}, doc


def test_rows_of_0009_get_the_new_keys_and_back(fresh_url: str) -> None:
    upgrade(fresh_url, BEFORE)
    customer, _, token = stored_as_before(fresh_url)
    assert_keys(fresh_url, customer, 0)
    hours, before = counts(fresh_url, customer), versions(fresh_url, customer)

    upgrade(fresh_url)

    assert_keys(fresh_url, customer, 1)
    assert columns(fresh_url, customer, ATTENDANT_LOGS, "long", ["description"]) == {
        "description": LONG
    }
    assert counts(fresh_url, customer) == hours  # only filter columns changed
    bumped = {kind: n - before[kind] for kind, n in versions(fresh_url, customer).items()}
    assert bumped == {"attendant_logs": 1, "cdrs": 1, "cards": 1}  # cached totals retire
    filler = raw_rows(
        fresh_url,
        "SELECT count(*) FROM cdrs WHERE customer_id = ? AND period = 'ok'",
        [customer],
    )
    assert filler == [(UNCHANGED,)]
    store = open_store(Settings(database_url=fresh_url))
    try:
        assert found(store, customer, ATTENDANT_LOGS, "ani", "(11) 98765-4321") == ["a1"]
        assert found(store, customer, CDRS, "alt_dnis", "5508008870608") == ["c1", "c2"]
        assert found(store, customer, CDRS, "total_charge", "1.35") == ["c1"]
        assert found(store, customer, CARDS, "number", "5521999999999", token) == ["k1", "k2"]
        assert found(store, customer, CARDS, "card_info_3", "NÃO", token) == ["k1"]
    finally:
        store.close()

    downgrade(fresh_url, BEFORE)
    assert_keys(fresh_url, customer, 0)
    assert counts(fresh_url, customer) == hours


def found(
    store: Store, customer: int, kind: Kind, param: str, value: str, token: str | None = None
) -> list[str]:
    spec = kind.filter(param)
    assert spec is not None
    query = SearchQuery(
        kind, customer, size=10, conditions=(Condition(spec, spec.key(value)),), dialer_token=token
    )
    return sorted(_doc_id(item, kind) for item in store.search(query).items)


def _doc_id(item: bytes, kind: Kind) -> str:
    return str(orjson.loads(item)[_id(kind)])
