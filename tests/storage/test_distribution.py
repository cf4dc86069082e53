"""The live PostgreSQL schema against ``storage.distribution``: what would stop Citus from
distributing it by customer (issue 18, docs/scale.md)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from atende_logs.storage.distribution import (
    COORDINATOR_TABLES,
    DISTRIBUTION_COLUMN,
    REFERENCE_TABLES,
    citus_commands,
    distributed_tables,
)

pytestmark = pytest.mark.postgres

STATEMENT_TRIGGERS = {
    f"{table}.{counts}_{event}"
    for table in ("attendant_logs", "cdrs", "cards")
    for counts in ("hourly_counts", "split_counts")
    for event in ("insert", "update", "delete")
}
"""Statement-level triggers over transition tables (migrations 0005 and 0016), which Citus
does not run on distributed tables: the one known obstacle, and docs/scale.md's first step
on the way there. A new one fails the test until the plan covers it."""


@pytest.fixture(scope="module")
def schema(postgres_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        yield connection


def _constraints(connection: psycopg.Connection[tuple[object, ...]], kinds: str) -> list[tuple]:
    return connection.execute(
        "SELECT c.conrelid::regclass::text, c.contype, "
        "ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) "
        "      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), "
        "c.confrelid::regclass::text "
        "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "WHERE t.relnamespace = current_schema()::regnamespace AND c.contype = ANY(%s)",
        [list(kinds)],
    ).fetchall()


def test_every_table_is_distributed_reference_or_the_coordinators(schema) -> None:
    tables = {
        row[0]
        for row in schema.execute(
            # Partitions follow their table: Citus distributes a partitioned table whole.
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relkind IN ('r', 'p') AND NOT relispartition"
        )
    }
    named = [*distributed_tables(), *REFERENCE_TABLES, *COORDINATOR_TABLES]
    assert len(named) == len(set(named)), "a table is in two lists"
    assert tables == set(named)


def test_distributed_tables_keys_lead_with_the_customer(schema) -> None:
    distributed = set(distributed_tables())
    keyed = set()
    for table, kind, columns, _ in _constraints(schema, "pu"):
        if table in distributed:
            assert columns[0] == DISTRIBUTION_COLUMN, (table, kind, columns)
            keyed.add(table)
    assert keyed == distributed, "a distributed table without a primary key"
    indexes = schema.execute(
        "SELECT t.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relnamespace = current_schema()::regnamespace AND i.indisunique "
        "AND (SELECT a.attname FROM pg_attribute a "
        "     WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]) <> %s",
        [DISTRIBUTION_COLUMN],
    ).fetchall()
    assert [row for row in indexes if row[0] in distributed] == []


def test_no_foreign_key_crosses_customers(schema) -> None:
    distributed = set(distributed_tables())
    for table, _, columns, target in _constraints(schema, "f"):
        if table in REFERENCE_TABLES:
            assert target in REFERENCE_TABLES, (table, target)
        elif target in distributed:  # between distributed tables: within one customer
            assert columns[0] == DISTRIBUTION_COLUMN, (table, columns, target)
        else:
            assert target in REFERENCE_TABLES, (table, target)


def test_the_only_statement_triggers_are_the_known_ones(schema) -> None:
    found = {
        f"{table}.{name}"
        for table, name in schema.execute(
            "SELECT t.relname, g.tgname FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid "
            "WHERE t.relnamespace = current_schema()::regnamespace AND NOT g.tgisinternal"
        )
    }
    assert found == STATEMENT_TRIGGERS


def test_the_commands_distribute_every_table_once_reference_tables_first() -> None:
    commands = citus_commands()
    reference = [c for c in commands if "create_reference_table" in c]
    assert commands[: len(reference)] == reference
    assert len(commands) == len(REFERENCE_TABLES) + len(distributed_tables())
    assert all(f"'{DISTRIBUTION_COLUMN}'" in c for c in commands[len(reference) :])
