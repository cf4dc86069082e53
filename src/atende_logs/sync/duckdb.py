"""A DuckDB file as a sync's destination (the default): one statement per page, reading
the page as an Arrow table, which DuckDB scans in place (binding the columns as lists, it
converted each value on its own: most of a page's time, docs/sync.md, "Measured").

duckdb and pyarrow are the optional extra ``sync`` (``pip install 'atende-logs[sync]'``),
imported only here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from atende_logs.client.errors import MissingExtraError
from atende_logs.sync.columns import Column, ColumnType
from atende_logs.sync.destination import Destination, SyncError, quote

try:
    import duckdb
    import pyarrow
except ImportError:  # pragma: no cover - the dev extra has them
    duckdb = None  # type: ignore[assignment]

_ARROW_TYPES: dict[ColumnType, str] = {
    "text": "string",
    "integer": "int64",
    "real": "float64",
    "boolean": "bool_",
    "time": "timestamp",
    "json": "binary",
}
CHECKPOINT_AFTER = "256MB"
FRESH_IDS = 1_000_000
"""How many ids of a table this connection created it remembers (below)."""
_PAGE = "atende_sync_page"
"""The name a page's Arrow table is registered under while it is written."""


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
                "a DuckDB destination needs duckdb and pyarrow: pip install 'atende-logs[sync]' "
                "(or sync into sqlite:///… or postgresql://…)"
            )
        try:
            self.connection = duckdb.connect(str(path))
            # A checkpoint compresses the log's new rows into the file: at the default 16 MB
            # of log (seven pages of CDRs) checkpoints and commits were a fifth of a sync's
            # time. The log is replayed on opening after a kill -9.
            self.connection.execute(f"SET checkpoint_threshold = '{CHECKPOINT_AFTER}'")
        except duckdb.Error as exc:
            raise SyncError(f"cannot open {where} as a DuckDB database: {exc}") from exc
        self._fresh: dict[str, set[str]] = {}
        """The ids written so far into each table this connection created empty: a page
        with none of them needs no conflict check (a plain INSERT, a sixth less CPU than
        INSERT OR REPLACE), which is most of a first copy. Forgotten past ``FRESH_IDS``;
        ids rolled back or deleted stay, which only costs the check."""

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

    def upsert(self, table: str, columns: Sequence[Column], values: list[list[Any]]) -> None:
        page = pyarrow.table(
            [
                _arrow(column.type, column_values)
                for column, column_values in zip(columns, values, strict=True)
            ],
            names=[column.name for column in columns],
        )
        names = ", ".join(quote(column.name) for column in columns)
        insert = "INSERT OR REPLACE" if self._maybe_there(table, values[0]) else "INSERT"
        self.connection.register(_PAGE, page)
        try:
            self.connection.execute(
                f"{insert} INTO {quote(table)} ({names}) SELECT {names} FROM {_PAGE}"
            )
        finally:
            self.connection.unregister(_PAGE)

    def _maybe_there(self, table: str, ids: list[str]) -> bool:
        """Whether ``table`` may hold a row of ``ids`` (remembered as there from now)."""
        seen = self._fresh.get(table)
        if seen is None:
            return True
        there = not seen.isdisjoint(ids)
        seen.update(ids)
        if len(seen) > FRESH_IDS:
            del self._fresh[table]
        return there

    def create(self, table: str, columns: Sequence[Column]) -> None:
        super().create(table, columns)
        if self.count(table) == 0:
            self._fresh[table] = set()

    def drop(self, table: str) -> None:
        self._fresh.pop(table, None)
        super().drop(table)

    def delete(self, table: str, ids: list[str]) -> None:
        if ids:
            self.connection.execute(
                f"DELETE FROM {quote(table)} WHERE id IN (SELECT unnest(?::VARCHAR[]))", [ids]
            )

    def close(self) -> None:
        self.connection.close()


def _arrow(type_: ColumnType, values: list[Any]) -> Any:
    if type_ == "json":  # bytes: taken as they are, then checked as UTF-8 at once
        return pyarrow.array(values, pyarrow.binary()).cast(pyarrow.string())
    if type_ == "time":  # aware datetimes, stored as the UTC instant
        return pyarrow.array(values, pyarrow.timestamp("us", tz="UTC"))
    return pyarrow.array(values, getattr(pyarrow, _ARROW_TYPES[type_])())
