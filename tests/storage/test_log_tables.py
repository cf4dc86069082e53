"""``create_log_table`` makes what the migrations made of the three log tables, on both
databases: the same columns, keys, indexes, compression, statistics, hourly and split
counting. So the migration of a new kind, one call of it, gives it a table like theirs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, Kind
from atende_logs.storage.migrate import sqlalchemy_url, upgrade
from atende_logs.storage.migrations.log_tables import create_log_table, drop_log_table

# The filter columns migrations 0001 and 0004 gave an index of their own.
INDEXED = {ATTENDANT_LOGS: ("attendant_email", "call_id"), CDRS: ("call_status",), CARDS: ()}


@contextmanager
def operations(database_url: str) -> Iterator[None]:
    """``alembic.op`` bound to one transaction of ``database_url``, as in a migration."""
    engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            with Operations.context(MigrationContext.configure(connection)):
                yield
    finally:
        engine.dispose()


def create_like(database_url: str, kind: Kind, table: str) -> None:
    with operations(database_url):
        create_log_table(
            table,
            scope=kind.scope.columns,
            columns=[(spec.column, spec.column_type) for spec in kind.stored_filters],
            indexed=INDEXED[kind],
            splits=[spec.column for param in kind.splits if (spec := kind.filter(param))],
        )


def sqlite_shape(path: str, table: str) -> dict[str, Any]:
    with closing(sqlite3.connect(path)) as connection:
        indexes = []
        for _, name, unique, origin, _ in connection.execute(f"PRAGMA index_list({table})"):
            columns = [row[2] for row in connection.execute(f"PRAGMA index_info({name})")]
            indexes.append((unique, origin, columns, name.startswith("sqlite_autoindex")))
        triggers = connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", [table]
        )
        return {
            "columns": connection.execute(f"PRAGMA table_info({table})").fetchall(),
            "foreign keys": [
                row[2:5] for row in connection.execute(f"PRAGMA foreign_key_list({table})")
            ],
            "indexes": sorted(indexes),
            # SQLite's upsert names the primary key's index to read by it.
            "primary key index": connection.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = ?",
                [f"sqlite_autoindex_{table}_1"],
            ).fetchone(),
            "triggers": sorted(sql.replace(table, "TABLE") for (sql,) in triggers),
        }


def postgres_shape(url: str, table: str) -> dict[str, Any]:
    with psycopg.connect(url) as connection:

        def rows(sql: str) -> list[Any]:
            found = connection.execute(sql, {"table": table}).fetchall()
            return sorted(tuple(_named(v, table) for v in row) for row in found)

        return {
            "columns": rows(
                "SELECT ordinal_position, column_name, data_type, is_nullable, collation_name "
                "FROM information_schema.columns WHERE table_name = %(table)s "
                "AND table_schema = current_schema()"
            ),
            "constraints": rows(
                "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %(table)s::regclass"
            ),
            "indexes": rows(
                "SELECT regexp_replace(indexdef, 'INDEX \\S+ ON', 'INDEX ON') FROM pg_indexes "
                "WHERE tablename = %(table)s AND schemaname = current_schema()"
            ),
            "compression": rows(
                "SELECT attname, attcompression FROM pg_attribute "
                "WHERE attrelid = %(table)s::regclass AND attcompression <> ''"
            ),
            "statistics": rows(  # none of the documents (0017)
                "SELECT attname, attstattarget FROM pg_attribute "
                "WHERE attrelid = %(table)s::regclass AND attnum > 0 AND attstattarget <> -1"
            ),
            "triggers": rows(
                "SELECT pg_get_triggerdef(t.oid), p.prosrc FROM pg_trigger t "
                "JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE t.tgrelid = %(table)s::regclass AND NOT t.tgisinternal"
            ),
        }


def _named(value: Any, table: str) -> Any:
    """``value`` with the table's name in it made the same for every table."""
    return value.replace(table, "TABLE") if isinstance(value, str) else value


def shape(database_url: str, table: str) -> dict[str, Any]:
    if database_url.startswith("sqlite:///"):
        return sqlite_shape(database_url[len("sqlite:///") :], table)
    return postgres_shape(database_url, table)


@pytest.mark.parametrize("kind", [ATTENDANT_LOGS, CDRS, CARDS], ids=lambda kind: kind.name)
def test_a_new_table_is_shaped_as_the_migrations_shaped_the_kinds(
    fresh_url: str, kind: Kind
) -> None:
    upgrade(fresh_url)
    copy = f"copy_{kind.table}"
    create_like(fresh_url, kind, copy)
    assert shape(fresh_url, copy) == shape(fresh_url, kind.table)
    with operations(fresh_url):
        drop_log_table(copy)
    if fresh_url.startswith("sqlite:///"):
        assert sqlite_shape(fresh_url[len("sqlite:///") :], copy)["columns"] == []
    else:
        with psycopg.connect(fresh_url) as connection:
            left = connection.execute(
                "SELECT proname FROM pg_proc WHERE proname LIKE %s", [f"%{copy}%"]
            ).fetchall()
        assert left == []
