"""After an erasure, the number is looked for in the database's raw files, not through
SELECT (issue 21, 2.13), as tests/http/test_no_secret_leaks.py looks for secrets.

SQLite: the file and its WAL hold the number before the erasure (the control) and nowhere
after it, a replaced older version of a document included. PostgreSQL: the table, TOAST
and index files of the three kinds hold it before; after the erasure's VACUUM no row version
or index entry holds it, and what bytes remain lie in pages' free space only, which a
rewrite (VACUUM FULL) removes: docs/lgpd.md says so.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg

from _raw import sqlite_files_hold
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, Kind
from atende_logs.models import Customer
from atende_logs.storage import Store

NATIONAL = "69932175804"
"""The number erased: no other test stores it, so any trace of it in the files is ours."""
SPELLINGS = (NATIONAL, "93217-5804")
BASE_MS = 1_767_614_400_000


def incompressible(size: int) -> str:
    """Text that neither lz4 nor pglz shrinks much, so a document holding it is stored out
    of line (TOAST) and the number beside it stays visible in raw bytes."""
    blocks = (hashlib.sha256(str(n).encode()).hexdigest() for n in range(size // 64 + 1))
    return "".join(blocks)[:size]


def documents() -> dict[Kind, list[dict[str, Any]]]:
    note = f"retornar para ({NATIONAL[:2]}) {NATIONAL[2:7]}-{NATIONAL[7:]}"
    return {
        ATTENDANT_LOGS: [
            {"id": "b1", "timestamp": BASE_MS, "ani_number": "55" + NATIONAL, "kind": "call"},
        ],
        CDRS: [
            {"callid": "b1", "ori_start_time": BASE_MS, "alt_dnis": "55" + NATIONAL},
            {"callid": "b2", "ori_start_time": BASE_MS, "notes": note},
            {
                "callid": "b3",
                "ori_start_time": BASE_MS,
                "ani": NATIONAL,
                "blob": incompressible(6000),
            },
        ],
        CARDS: [{"id": "b1", "timestamp": BASE_MS, "number": "+55 " + NATIONAL}],
    }


def store_documents(store: Store, customer: Customer) -> None:
    dialer, _ = store.create_dialer(customer.id, "discador")
    for kind, docs in documents().items():
        dialer_id = dialer.id if kind.scope.by_dialer else None
        ingest(store, customer.id, kind, as_records(docs), zone=UTC, dialer_id=dialer_id)


def test_erasure_leaves_no_trace_in_the_files(
    store: Store, database_url: str, customer: Customer
) -> None:
    if database_url.startswith("sqlite"):
        sqlite_case(store, database_url, customer)
    else:
        postgres_case(store, database_url, customer)


# --- SQLite -------------------------------------------------------------------------------


def sqlite_case(store: Store, url: str, customer: Customer) -> None:
    # An older version, replaced before the erasure: its freed space is zeroed as well.
    older = {"callid": "b0", "ori_start_time": BASE_MS, "ani": NATIONAL, "n": "x" * 300}
    ingest(store, customer.id, CDRS, as_records([older]), zone=UTC)
    ingest(store, customer.id, CDRS, as_records([{**older, "n": "y"}]), zone=UTC)
    store_documents(store, customer)
    assert all(sqlite_files_hold(url, form) for form in SPELLINGS)  # the control

    erasure = store.erase_phone(customer.id, NATIONAL, "teste")

    assert erasure.counts == {ATTENDANT_LOGS.name: 1, CDRS.name: 4, CARDS.name: 1}
    assert [form for form in SPELLINGS if sqlite_files_hold(url, form)] == []


# --- PostgreSQL ---------------------------------------------------------------------------

TABLES = [kind.table for kind in (ATTENDANT_LOGS, CDRS, CARDS)]
HORIZON_DEADLINE_S = 120
"""How long another session's open transaction in the same database (other test runs share
it) may keep VACUUM from removing the old row versions."""


def relation_files(url: str) -> dict[str, list[str]]:
    """Each relation's name -> its files (every 1 GB segment): the three tables, their TOAST
    tables and every index of both, after a CHECKPOINT has written them out."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CHECKPOINT")
        data_directory = connection.execute("SHOW data_directory").fetchall()[0][0]
        rows = connection.execute(
            # A partitioned table has no files of its own: its partitions do.
            "WITH tables AS (SELECT oid FROM pg_class WHERE oid = ANY(%s::regclass[]) "
            "AND relkind = 'r' UNION SELECT inhrelid FROM pg_inherits "
            "WHERE inhparent = ANY(%s::regclass[])), "
            "heaps AS (SELECT oid FROM tables UNION SELECT reltoastrelid FROM pg_class "
            "WHERE oid IN (SELECT oid FROM tables) AND reltoastrelid != 0) "
            # A partition and its indexes go by their parent's names.
            "SELECT coalesce((SELECT p.relname FROM pg_inherits i JOIN pg_class p "
            "ON p.oid = i.inhparent WHERE i.inhrelid = c.oid), c.relname), "
            "pg_relation_filepath(c.oid) FROM pg_class c "
            "WHERE c.oid IN (SELECT oid FROM heaps) OR c.oid IN "
            "(SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM heaps))",
            [TABLES, TABLES],
        ).fetchall()
    assert os.access(data_directory, os.R_OK | os.X_OK), (
        f"this test reads PostgreSQL's files in {data_directory}: run it on the database's "
        "machine as a user who may read them (root, or postgres)"
    )
    files: dict[str, list[str]] = {}
    for name, path in rows:
        base = os.path.join(data_directory, path)
        more = (f"{base}.{n}" for n in range(1, 1000))
        files.setdefault(name, []).extend(
            [base, *(segment for segment in more if os.path.exists(segment))]
        )
    return files


def traces(url: str, needle: str) -> dict[str, dict[str, int]]:
    """Per relation, where ``needle`` lies in its pages: in "use" (a line pointer, a row
    version live or dead, an index entry) or in "free" space (between the page header's
    pd_lower and pd_upper, which PostgreSQL does not zero when it compacts a page)."""
    with psycopg.connect(url) as connection:
        block = int(connection.execute("SHOW block_size").fetchall()[0][0])
    found: dict[str, dict[str, int]] = {}
    for name, segments in relation_files(url).items():
        data = b"".join(Path(segment).read_bytes() for segment in segments)
        at = data.find(needle.encode())
        while at >= 0:
            page = at // block * block
            lower, upper = struct.unpack_from("<HH", data, page + 12)
            free = page + lower <= at and at + len(needle) <= page + upper
            where = found.setdefault(name, {"use": 0, "free": 0})
            where["free" if free else "use"] += 1
            at = data.find(needle.encode(), at + 1)
    return found


def in_use(url: str) -> dict[str, int]:
    return {name: where["use"] for name, where in traces(url, NATIONAL).items() if where["use"]}


def vacuumed_since(url: str, moment: Any) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            # Every partition of a table vacuumed (a partitioned table has no statistics).
            "SELECT p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
            "JOIN pg_stat_user_tables s ON s.relid = i.inhrelid "
            "WHERE i.inhparent = ANY(%s::regclass[]) GROUP BY p.relname "
            "HAVING bool_and(s.last_vacuum >= %s)",
            [TABLES, moment],
        ).fetchall()
    return {name for (name,) in rows}


def postgres_case(store: Store, url: str, customer: Customer) -> None:
    store_documents(store, customer)
    before = traces(url, NATIONAL)
    # The control: the rows of all three tables, the TOAST chunks of the large document and
    # the phone column's index entries (the time indexes carry every filter column).
    assert {"attendant_logs", "cdrs", "cards", "ix_cdrs_time", "ix_cards_time"} <= set(before)
    assert any(name.startswith("pg_toast") for name in before), before
    with psycopg.connect(url) as connection:
        started = connection.execute("SELECT now()").fetchall()[0][0]

    erasure = store.erase_phone(customer.id, NATIONAL, "teste")

    assert erasure.counts == {ATTENDANT_LOGS.name: 1, CDRS.name: 3, CARDS.name: 1}
    assert vacuumed_since(url, started) == set(TABLES)  # by the erasure, after it committed
    deadline = time.monotonic() + HORIZON_DEADLINE_S
    while in_use(url) and time.monotonic() < deadline:
        time.sleep(1)  # another session's snapshot held the old versions: vacuum again
        with psycopg.connect(url, autocommit=True) as connection:
            for table in TABLES:
                connection.execute(f"VACUUM (INDEX_CLEANUP ON) {table}")
    assert in_use(url) == {}
    # What bytes are left lie in free space; a rewrite of the table removes them too.
    with psycopg.connect(url, autocommit=True) as connection:
        for table in TABLES:
            connection.execute(f"VACUUM FULL {table}")
    assert traces(url, NATIONAL) == {}
