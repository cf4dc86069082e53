"""A PostgreSQL database as a sync's destination: one statement per page, the columns bound
as arrays and unnested; ``doc`` as ``jsonb``, times as ``timestamptz``. The tables go into
the connection's schema (``?options=-csearch_path%3Dmyschema`` picks another)."""

from __future__ import annotations

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
        names = [quote(column.name) for column in columns]
        arrays = ", ".join(f"%s::{self.types[column.type]}[]" for column in columns)
        updates = ", ".join(f"{name} = excluded.{name}" for name in names[1:])
        self.connection.execute(
            f"INSERT INTO {quote(table)} ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            [
                [v.decode() for v in column_values] if column.type == "json" else column_values
                for column, column_values in zip(columns, values, strict=True)
            ],
        )

    def delete(self, table: str, ids: list[str]) -> None:
        if ids:
            self.connection.execute(f"DELETE FROM {quote(table)} WHERE id = ANY(%s)", [ids])

    def close(self) -> None:
        self.connection.close()
