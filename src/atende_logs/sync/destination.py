"""Where a sync keeps its copy: one interface, one module per database.

A destination holds, beside each kind's table, one table ``atende_sync`` with a row per
synced table: the query it copies (kind, URL, filters, the dialer token masked), that
query's fingerprint and the feed's cursor. ``Sync`` writes a page's rows and the cursor
after them in one transaction (``transaction``), so the copy and its cursor never disagree,
whatever stops the process.

The SQL is shared; each database says its column types, its placeholder, how it opens a
transaction, how it writes many rows at once (``upsert``, ``delete``) and how it compares a
time (``time_value``, for a retention mark's ``delete_before``).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from atende_logs.client.errors import ClientError
from atende_logs.sync.columns import Column, ColumnType

STATE_TABLE = "atende_sync"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


class SyncError(ClientError):
    """A sync cannot start or go on (its destination, or a query that does not match it)."""


@dataclass(frozen=True)
class SyncState:
    """A synced table's row of ``atende_sync``."""

    table: str
    kind: str
    url: str
    params: str
    """The query's parameters as JSON, the dialer token masked."""
    fingerprint: str
    """SHA-256 of the kind, URL and parameters, the token included: the query's identity."""
    cursor: str
    """The feed's cursor after the last change applied."""


def check_name(name: str) -> str:
    """``name`` if it is a plain SQL name (letters, digits, ``_``); raises SyncError."""
    if not _NAME.fullmatch(name) or name == STATE_TABLE:
        raise SyncError(f"{name!r} cannot name a table: use letters, digits and _")
    return name


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Destination(ABC):
    """A database holding synced tables and their ``atende_sync`` rows."""

    types: ClassVar[dict[ColumnType, str]]
    mark: ClassVar[str] = "?"
    """The driver's placeholder."""

    def __init__(self, where: str) -> None:
        self.where = where
        """The destination as given, for messages."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """Everything inside is committed together, or not at all."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (none for a statement that returns none)."""

    @abstractmethod
    def changed(self, sql: str, params: Sequence[Any]) -> int:
        """Run one UPDATE or DELETE; the number of rows it changed."""

    @abstractmethod
    def has_table(self, name: str) -> bool: ...

    @abstractmethod
    def upsert(self, table: str, columns: Sequence[Column], values: list[list[Any]]) -> None:
        """Store rows given as ``values``, a list per column (in ``columns`` order, of the
        same length, not empty, of distinct ids), each replacing the row of its id."""

    @abstractmethod
    def delete(self, table: str, ids: list[str]) -> None:
        """Drop the rows of ``ids`` (distinct; ids not there are no error)."""

    def delete_before(self, table: str, column: str, before: datetime) -> int:
        """Drop the rows whose ``column`` (a time) is before ``before`` (an aware instant):
        a retention mark (docs/sync.md, "Retention"). The number of rows dropped; a row
        whose time is null is kept."""
        return self.changed(
            f"DELETE FROM {quote(table)} WHERE {quote(column)} < {self.mark}",
            [self.time_value(before)],
        )

    def time_value(self, moment: datetime) -> Any:
        """``moment`` as a time column holds it, to compare with one (an aware datetime
        where the column is a timestamp with time zone)."""
        return moment

    @abstractmethod
    def close(self) -> None: ...

    def state(self, table: str) -> SyncState | None:
        """The ``atende_sync`` row of ``table``, None when nothing was synced into it."""
        if not self.has_table(STATE_TABLE):
            return None
        rows = self.execute(
            f"SELECT table_name, kind, url, params, fingerprint, cursor FROM {STATE_TABLE} "
            f"WHERE table_name = {self.mark}",
            [table],
        )
        return SyncState(*rows[0]) if rows else None

    def create(self, table: str, columns: Sequence[Column]) -> None:
        """Create ``table`` (and ``atende_sync``) unless it is there."""
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (table_name TEXT PRIMARY KEY, "
            "kind TEXT NOT NULL, url TEXT NOT NULL, params TEXT NOT NULL, "
            "fingerprint TEXT NOT NULL, cursor TEXT NOT NULL, synced_at TEXT NOT NULL)"
        )
        definitions = ", ".join(
            f"{quote(column.name)} {self.types[column.type]}"
            + (" PRIMARY KEY" if column.name == "id" else "")
            for column in columns
        )
        self.execute(f"CREATE TABLE IF NOT EXISTS {quote(table)} ({definitions})")

    def drop(self, table: str) -> None:
        """Drop ``table`` and forget its cursor."""
        self.execute(f"DROP TABLE IF EXISTS {quote(table)}")
        if self.has_table(STATE_TABLE):
            self.execute(f"DELETE FROM {STATE_TABLE} WHERE table_name = {self.mark}", [table])

    def start(self, state: SyncState) -> None:
        """Record a new synced table at its first cursor."""
        self.execute(
            f"INSERT INTO {STATE_TABLE} VALUES ({', '.join([self.mark] * 7)})",
            [*_fields(state), _now()],
        )

    def advance(self, table: str, cursor: str, to: str) -> None:
        """Move ``table``'s cursor from ``cursor`` to ``to``; raises SyncError when it is no
        longer at ``cursor``: another sync into the same table moved it meanwhile."""
        moved = self.changed(
            f"UPDATE {STATE_TABLE} SET cursor = {self.mark}, synced_at = {self.mark} "
            f"WHERE table_name = {self.mark} AND cursor = {self.mark}",
            [to, _now(), table, cursor],
        )
        if moved != 1:
            raise SyncError(
                f"another sync into {table} at {self.where} moved its cursor meanwhile: "
                "run one sync per table at a time"
            )

    def count(self, table: str) -> int:
        return int(self.execute(f"SELECT count(*) FROM {quote(table)}")[0][0])

    def __enter__(self) -> Destination:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _fields(state: SyncState) -> list[str]:
    return [state.table, state.kind, state.url, state.params, state.fingerprint, state.cursor]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def open_destination(where: str) -> Destination:
    """The destination ``where`` names: ``postgresql://…`` (or ``postgres://``) a PostgreSQL
    database; ``sqlite:///path``, or a path ending in .sqlite, .sqlite3 or .db, a SQLite
    file; ``duckdb:///path`` or any other path a DuckDB file (created when missing).
    Raises SyncError (MissingExtraError without duckdb)."""
    scheme, separator, rest = where.partition("://")
    if separator and scheme in ("postgresql", "postgres"):
        from atende_logs.sync.postgres import PostgresDestination

        return PostgresDestination(where)
    if separator and scheme not in ("sqlite", "duckdb"):
        raise SyncError(
            f"unknown destination {where!r}: give a DuckDB file (copy.duckdb), "
            "sqlite:///path or a .sqlite/.db file, or postgresql://…"
        )
    path = Path(rest.removeprefix("/") if separator else where)
    if path.is_dir() or not path.name:
        raise SyncError(f"{where} is a directory: name the database file (copy.duckdb)")
    if not path.parent.is_dir():
        raise SyncError(f"cannot create {path}: {path.parent} is not a directory")
    if scheme == "sqlite" if separator else path.suffix in _SQLITE_SUFFIXES:
        from atende_logs.sync.sqlite import SqliteDestination

        return SqliteDestination(where, path)
    from atende_logs.sync.duckdb import DuckDBDestination

    return DuckDBDestination(where, path)
