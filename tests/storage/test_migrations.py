"""The versioned schema: every step applies, undoes and re-applies on both databases."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from atende_logs.kinds import KINDS
from atende_logs.storage.migrate import current, downgrade, pending, upgrade


def test_up_down_up(fresh_url: str) -> None:
    every = pending(fresh_url)
    assert every[0] == "0001_initial" and current(fresh_url) is None
    upgrade(fresh_url)
    assert current(fresh_url) == every[-1] and pending(fresh_url) == []
    downgrade(fresh_url, "base")
    assert current(fresh_url) is None and pending(fresh_url) == every
    upgrade(fresh_url)
    assert current(fresh_url) == every[-1]


@pytest.mark.postgres
def test_postgres_documents_use_lz4(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as connection:
        methods = connection.execute(
            "SELECT attrelid::regclass::text, attcompression FROM pg_attribute "
            "WHERE attname = 'doc' AND attrelid::regclass::text IN "
            "('attendant_logs', 'cdrs', 'cards')"
        ).fetchall()
    assert sorted(methods) == [("attendant_logs", "l"), ("cards", "l"), ("cdrs", "l")]


@pytest.mark.postgres
def test_postgres_time_indexes_carry_every_filter_column(postgres_url: str) -> None:
    """Migration 0008 lists the columns as they were; a filter column added since must be
    added to the index too, or its filtered counts read the table again."""
    with psycopg.connect(postgres_url) as connection:
        for kind in KINDS.values():
            (definition,) = connection.execute(
                "SELECT pg_get_indexdef(%s::regclass)", [f"ix_{kind.table}_time"]
            ).fetchone()
            included = definition.split("INCLUDE (")[1].rstrip(")").split(", ")
            assert included == list(kind.columns), kind.table


@pytest.mark.postgres
def test_postgres_counts_a_filtered_listing_from_the_index_alone(postgres_url: str) -> None:
    """The plan of a count under filters no index leads with, on a table whose visibility
    map is fresh: an index-only scan, whatever the planner thinks of the table's size."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("VACUUM cdrs")
        connection.execute("SET enable_seqscan = off")  # a test table is small enough to scan
        connection.execute("SET enable_bitmapscan = off")
        plan = "\n".join(
            row[0]
            for row in connection.execute(
                "EXPLAIN SELECT count(*) FROM cdrs WHERE customer_id = 1 AND time_ms >= 0 "
                "AND time_ms <= 9999999999999 AND period = 'worktime' AND call_terminated = 'B'"
            )
        )
    # Each partition's scan uses its part of ix_cdrs_time (named after the columns).
    scans = [line for line in plan.splitlines() if "Scan" in line]
    assert scans and all("Index Only Scan using cdrs_" in line for line in scans), plan
    assert all("_customer_id_time_ms_doc_id_" in line for line in scans), plan


def test_sqlite_counts_hours_in_the_upsert_not_in_row_triggers(tmp_path: Path) -> None:
    """Migration 0009: SQLite's insert and update triggers go (the upsert counts instead),
    its delete triggers stay; undone, all three are back."""
    url = f"sqlite:///{tmp_path / 'triggers.db'}"

    def triggers() -> set[str]:
        with closing(sqlite3.connect(url[len("sqlite:///") :])) as connection:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            return {name for (name,) in rows}

    upgrade(url)
    tables = ("attendant_logs", "cdrs", "cards")
    assert triggers() == {f"hourly_counts_{table}_delete" for table in tables}
    downgrade(url, "0008_covering_time_indexes")
    events = ("insert", "update", "delete")
    assert triggers() == {f"hourly_counts_{t}_{e}" for t in tables for e in events}
