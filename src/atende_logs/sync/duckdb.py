"""A DuckDB file as a sync's destination (the default): one statement per page, the
columns bound as lists and unnested, which DuckDB reads far faster than row by row.

duckdb is an optional extra (``pip install 'atende-logs[sync]'``), imported only here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from atende_logs.client.errors import MissingExtraError
from atende_logs.sync.columns import Column, ColumnType
from atende_logs.sync.destination import Destination, SyncError, columns_as_lists, quote

try:
    import duckdb
except ImportError:  # pragma: no cover - the dev extra has it
    duckdb = None  # type: ignore[assignment]


class DuckDBDestination(Destination):
    types: ClassVar[dict[ColumnType, str]] = {
        "text": "VARCHAR",
        "integer": "BIGINT",
        "real": "DOUBLE",
        "boolean": "BOOLEAN",
        "time": "TIMESTAMPTZ",
        "json": "JSON",
    }

    def __init__(self, where: str, path: Path) -> None:
        super().__init__(where)
        if duckdb is None:
            raise MissingExtraError(
                "a DuckDB destination needs duckdb: pip install 'atende-logs[sync]' "
                "(or sync into sqlite:///… or postgresql://…)"
            )
        try:
            self.connection = duckdb.connect(str(path))
        except duckdb.Error as exc:
            raise SyncError(f"cannot open {where} as a DuckDB database: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.connection.begin()
        try:
            yield
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        result = self.connection.execute(sql, list(params))
        return result.fetchall() if result.description else []

    def changed(self, sql: str, params: Sequence[Any]) -> int:
        return int(self.execute(sql, params)[0][0])

    def has_table(self, name: str) -> bool:
        found = self.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
            "AND schema_name = current_schema()",
            [name],
        )
        return bool(found[0][0])

    def upsert(self, table: str, columns: Sequence[Column], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        names = ", ".join(quote(column.name) for column in columns)
        lists = ", ".join(f"unnest(?::{self.types[column.type]}[])" for column in columns)
        self.connection.execute(
            f"INSERT OR REPLACE INTO {quote(table)} ({names}) SELECT {lists}",
            list(columns_as_lists(rows, len(columns))),
        )

    def delete(self, table: str, ids: list[str]) -> None:
        if ids:
            self.connection.execute(
                f"DELETE FROM {quote(table)} WHERE id IN (SELECT unnest(?::VARCHAR[]))", [ids]
            )

    def close(self) -> None:
        self.connection.close()
