"""A PostgreSQL database as a sync's destination: each page copied (COPY) into a temporary
table, then moved by one INSERT … ON CONFLICT; ``doc`` as ``jsonb``, times as
``timestamptz``. The tables go into the connection's schema
(``?options=-csearch_path%3Dmyschema`` picks another)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg

from atende_logs.sync.columns import Column, ColumnType
from atende_logs.sync.destination import Destination, SyncError, quote


class PostgresDestination(Destination):
    types: ClassVar[dict[ColumnType, str]] = {
        "text": "text",
        "integer": "bigint",
        "real": "double precision",
        "boolean": "boolean",
        "time": "timestamptz",
        "json": "jsonb",
    }
    mark = "%s"

    def __init__(self, where: str) -> None:
        super().__init__(re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", where))
        try:
            self.connection = psycopg.connect(where, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise SyncError(f"cannot connect to the PostgreSQL destination: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.connection.transaction():
            yield

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def changed(self, sql: str, params: Sequence[Any]) -> int:
        return self.connection.execute(sql, params).rowcount

    def has_table(self, name: str) -> bool:
        return self.execute("SELECT to_regclass(%s)", [quote(name)])[0][0] is not None

    def upsert(self, table: str, columns: Sequence[Column], values: list[list[Any]]) -> None:
        names = ", ".join(quote(column.name) for column in columns)
        updates = ", ".join(
            f"{quote(column.name)} = excluded.{quote(column.name)}" for column in columns[1:]
        )
        page = self._page_table(table)
        with self.connection.cursor().copy(f"COPY {page} ({names}) FROM STDIN") as copy:
            for row in zip(
                *(
                    [v.decode() for v in column_values] if column.type == "json" else column_values
                    for column, column_values in zip(columns, values, strict=True)
                ),
                strict=True,
            ):
                copy.write_row(row)
        self.connection.execute(
            f"INSERT INTO {quote(table)} ({names}) SELECT {names} FROM {page} "
            f"ON CONFLICT (id) DO UPDATE SET {updates}"
        )
        self.connection.execute(f"TRUNCATE {page}")

    def _page_table(self, table: str) -> str:
        """A temporary table shaped like ``table`` (no key, no index), where a page is
        copied before one INSERT … ON CONFLICT moves it: COPY is PostgreSQL's fast way in,
        where arrays of the page's values were escaped one value at a time (1,800 rows/s).
        Made again when missing: a rollback takes back its creation too."""
        name = _page_name(table)
        self.connection.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} (LIKE {quote(table)})"
        )
        return name

    def drop(self, table: str) -> None:
        super().drop(table)
        self.connection.execute(f"DROP TABLE IF EXISTS {_page_name(table)}")

    def delete(self, table: str, ids: list[str]) -> None:
        if ids:
            self.connection.execute(f"DELETE FROM {quote(table)} WHERE id = ANY(%s)", [ids])

    def close(self) -> None:
        self.connection.close()


def _page_name(table: str) -> str:
    """``table``'s temporary page table, in this session's own schema, so a drop can never
    reach a table of the same name in the search path."""
    return "pg_temp." + quote("atende_sync_page_" + hashlib.sha256(table.encode()).hexdigest()[:16])
