"""A SQLite file as a sync's destination: times as ISO 8601 UTC text (``…T10:30:00.120Z``,
which sorts and which SQLite's date functions read), booleans as 0/1, ``doc`` as JSON text
(``json_extract`` reads it). WAL mode, so the copy can be read while a sync writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from atende_logs.sync.columns import Column, ColumnType
from atende_logs.sync.destination import Destination, SyncError, quote


class SqliteDestination(Destination):
    types: ClassVar[dict[ColumnType, str]] = {
        "text": "TEXT",
        "integer": "INTEGER",
        "real": "REAL",
        "boolean": "INTEGER",
        "time": "TEXT",
        "json": "TEXT",
    }

    def __init__(self, where: str, path: Path) -> None:
        super().__init__(where)
        try:
            self.connection = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise SyncError(f"cannot open {where} as a SQLite database: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, params).fetchall()

    def changed(self, sql: str, params: Sequence[Any]) -> int:
        return self.connection.execute(sql, params).rowcount

    def has_table(self, name: str) -> bool:
        found = self.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
        )
        return bool(found)

    def upsert(self, table: str, columns: Sequence[Column], values: list[list[Any]]) -> None:
        names = [quote(column.name) for column in columns]
        updates = ", ".join(f"{name} = excluded.{name}" for name in names[1:])
        values = [
            _as_stored(column.type, column_values)
            for column, column_values in zip(columns, values, strict=True)
        ]
        self.connection.executemany(
            f"INSERT INTO {quote(table)} ({', '.join(names)}) "
            f"VALUES ({', '.join('?' * len(names))}) ON CONFLICT (id) DO UPDATE SET {updates}",
            zip(*values, strict=True),
        )

    def delete(self, table: str, ids: list[str]) -> None:
        self.connection.executemany(
            f"DELETE FROM {quote(table)} WHERE id = ?", [(id_,) for id_ in ids]
        )

    def time_value(self, moment: datetime) -> str:
        """The ISO 8601 UTC text a time column holds, which sorts as the instants do."""
        return _iso(moment)

    def close(self) -> None:
        self.connection.close()


def _as_stored(type_: ColumnType, values: list[Any]) -> list[Any]:
    if type_ == "time":
        return [None if v is None else _iso(v) for v in values]
    if type_ == "json":  # TEXT, which json_extract reads (bytes would be a BLOB)
        return [v.decode() for v in values]
    return values


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
