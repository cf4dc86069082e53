"""The embedded SQLite backend.

Reads run on per-thread connections (WAL lets them proceed during a write); writes go
through one lock, since SQLite allows one writer at a time. A progress handler stops any
read that runs past the statement timeout.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from atende_logs.errors import QueryTimeoutError, StorageError, StoreUnavailableError
from atende_logs.kinds import Kind
from atende_logs.models import EncodedRows, Row
from atende_logs.storage._common import Dialect, DocRow, insert_columns, quote, upsert_sql
from atende_logs.storage._hourly import HOUR_MS
from atende_logs.storage._listener import DataVersionPoller
from atende_logs.storage._personal_data import PersonalDataStore
from atende_logs.storage._stats import StatsStore
from atende_logs.storage.base import PoolStats
from atende_logs.storage.partitions import Partition

_ADD_COUNTS = (
    "INSERT INTO hourly_counts (customer_id, kind, dialer_id, hour_ms, row_count) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id, kind, dialer_id, hour_ms) "
    "DO UPDATE SET row_count = hourly_counts.row_count + excluded.row_count"
)
logger = logging.getLogger("atende_logs.storage")
_PROGRESS_STEPS = 10_000
# SQLite's default limit on ? parameters in one statement is 32766; stay well under it.
_MAX_PARAMETERS = 30_000
_ALEMBIC_VERSION_TABLE = (
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
)

PAGE_SIZE = 16_384
"""Page size of a new database file (an existing file keeps its own).

A stored document is about 2.5 KB: in SQLite's default 4 KB pages most rows spill into an
overflow page and waste the rest of it. With 16 KB pages the file is smaller, an import no
slower, and a page of 1,000 documents takes fewer page reads (docs/benchmarks-history.md,
"SQLite page size and memory-mapped reads").
"""
MMAP_SIZE = 1 << 40
"""How much of the file reads may memory-map; SQLite caps it at its build's limit (2 GB in
Debian's). A mapped page is read without a system call or a copy into SQLite's cache, much
faster than through ``pread`` (docs/benchmarks-history.md, "SQLite page size")."""


def set_page_size(connection: Any) -> None:
    """Give a new, empty database file our page size; a no-op on a file that has tables.

    Runs before anything else on every connection that may create the file (the store's and
    the migrations'), since the first write fixes the page size for good.
    """
    connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")


def sqlite_path(database_url: str) -> str:
    """The file path in a sqlite:///PATH URL (four slashes for an absolute path)."""
    if not database_url.startswith("sqlite:///"):
        raise ValueError(f"not an SQLite URL: {database_url!r}")
    return database_url[len("sqlite:///") :]


def encode_rows(kind: Kind, rows: Sequence[Row]) -> EncodedRows:
    """``rows`` as the parameters of the upsert's INSERT, scope left out (the writer adds
    it, as PostgreSQL's binds it)."""
    params = [(row.doc_id, row.time_ms, row.doc.decode(), *row.values) for row in rows]
    return EncodedRows(params, len(rows))


class SQLiteStore(PersonalDataStore, StatsStore):
    backend = "sqlite"
    # CAST to BLOB hands the stored bytes over without decoding them to str. SQLite before
    # 3.39 has no IS DISTINCT FROM; IS NOT is its NULL-safe "differs".
    dialect = Dialect(placeholder="?", document="CAST(doc AS BLOB)", distinct="IS NOT")

    def __init__(self, database_url: str, statement_timeout_ms: int = 10_000) -> None:
        super().__init__()
        self.path = sqlite_path(database_url)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._timeout_s = statement_timeout_ms / 1000
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._writer = threading.Lock()
        self._poller = DataVersionPoller(self.path, self.signal)
        self._changed: set[tuple[int, str]] = set()
        """Customers' kinds the open write transaction changed (under ``_writer``)."""

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            set_page_size(connection)
            connection.execute("PRAGMA journal_mode = WAL")
            # FULL: a write the API acknowledged survives a power cut, not only a crash.
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("PRAGMA busy_timeout = 10000")
            # Statement journals (every upsert that fires the count triggers opens one) in
            # memory rather than in temporary files: they are small and short-lived.
            connection.execute("PRAGMA temp_store = MEMORY")
            connection.execute(f"PRAGMA mmap_size = {MMAP_SIZE}")
            # Deleted and replaced rows are overwritten with zeros, not left in free space,
            # where an erased number would survive; ingest showed no cost with it
            # (docs/lgpd.md, "What erasure leaves in the database's files").
            connection.execute("PRAGMA secure_delete = ON")
            self._local.connection = connection
            with self._guard:
                self._connections.append(connection)
        return connection

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        deadline = time.monotonic() + self._timeout_s
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
        try:
            # One transaction, so a page and its count see the same snapshot.
            connection.execute("BEGIN")
            yield connection
            connection.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _rollback(connection)
            if "interrupted" in str(exc):
                raise QueryTimeoutError("a consulta excedeu o tempo limite") from exc
            raise _translate(exc) from exc
        except BaseException:
            _rollback(connection)
            raise
        finally:
            connection.set_progress_handler(None, _PROGRESS_STEPS)

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        with self._writer:
            self._changed.clear()
            try:
                connection.execute("BEGIN IMMEDIATE")
                yield connection
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(connection)
                raise _translate(exc) from exc
            except BaseException:
                _rollback(connection)
                raise
            # Committed: wake this process's readers of what changed (other processes'
            # see the data version move).
            for customer_id, table in self._changed:
                self.signal.notify(customer_id, table)

    def _noted(self, customer_id: int, kind: Kind) -> None:
        self._changed.add((customer_id, kind.table))

    def _listen(self) -> None:
        if self.path != ":memory:":
            self._poller.start()

    def _as_docs(self, rows: list[Any]) -> list[DocRow]:
        return rows  # already (time_ms, doc_id, doc): the extra version column is unread

    def _rows(self, connection: Any, sql: str, params: list[Any]) -> list[Any]:
        rows: list[Any] = connection.execute(sql, params).fetchall()
        return rows

    encode_rows = staticmethod(encode_rows)

    # No partitions on SQLite (docs/partitions.md): retention deletes row by row.
    def maintain_partitions(self, now: int | None = None) -> list[str]:
        return []

    def list_partitions(self, kind: Kind) -> list[Partition]:
        return []

    def drop_partitions_before(self, kind: Kind, before_ms: int) -> dict[int, int]:
        return {}

    def _write_batch(
        self,
        connection: Any,
        kind: Kind,
        customer_id: int,
        scope: list[Any],
        rows: EncodedRows,
        newer_only: bool = False,
    ) -> tuple[int, int]:
        inserted, replaced, changed = self._upsert(connection, kind, scope, rows, newer_only)
        within = scope[1:]
        self._record_changes(
            connection,
            kind,
            customer_id,
            [(*within, doc_id) for doc_id, _ in changed],
            times=[time_ms for _, time_ms in changed],
        )
        return inserted, replaced

    def _upsert(
        self,
        connection: Any,
        kind: Kind,
        scope: list[Any],
        rows: EncodedRows,
        newer_only: bool = False,
    ) -> tuple[int, int, list[tuple[str, int]]]:
        """(inserted, replaced, the ids and times of the rows inserted or that differed)."""
        old_times = self._old_times(connection, kind, scope, [values[0] for values in rows.payload])
        placeholders = ", ".join("?" for _ in insert_columns(kind))
        upsert = upsert_sql(kind, f"VALUES ({placeholders})", self.dialect, newer_only)
        payload = rows.payload
        if newer_only:
            # Rows the condition will leave alone must not move their hour's count either.
            payload = [v for v in payload if old_times.get(v[0], v[1]) <= v[1]]
        # Row by row, to learn from SQLite's own count which rows it wrote: the new ones and
        # those that differed (the change feed's changes), the others left as they were.
        changed: list[tuple[str, int]] = []
        written = connection.total_changes
        for values in payload:
            connection.execute(upsert, (*scope, *values))
            if connection.total_changes != written:
                written = connection.total_changes
                changed.append((values[0], values[1]))
        self._count_hours(connection, kind, scope, payload, old_times)
        return rows.count - len(old_times), len(old_times), changed

    def _old_times(
        self, connection: Any, kind: Kind, scope: list[Any], ids: list[str]
    ) -> dict[str, int]:
        """doc_id -> time_ms of the stored documents among ``ids``."""
        where = " AND ".join(f"{column} = ?" for column in kind.scope.columns)
        # The primary key's index, named: left to itself, SQLite (which has no statistics
        # here) reads the customer's whole time index instead, since that one covers
        # doc_id and time_ms, a cost per id that grows with the table
        # (docs/benchmarks-history.md, "Import into PostgreSQL", its SQLite part).
        primary_key = quote(f"sqlite_autoindex_{kind.table}_1")
        found: dict[str, int] = {}
        step = _MAX_PARAMETERS - len(scope)
        for start in range(0, len(ids), step):
            chunk = ids[start : start + step]
            found.update(
                connection.execute(
                    f"SELECT doc_id, time_ms FROM {quote(kind.table)} INDEXED BY {primary_key} "
                    f"WHERE {where} AND doc_id IN ({', '.join('?' for _ in chunk)})",
                    [*scope, *chunk],
                )
            )
        return found

    def _count_hours(
        self,
        connection: Any,
        kind: Kind,
        scope: list[Any],
        payload: list[tuple[Any, ...]],
        old_times: dict[str, int],
    ) -> None:
        """Add the batch's new rows to their hours' counts and move replaced rows that
        changed hour: what row triggers did before migration 0009, for a fraction of the
        cost. Deletes still count themselves (their triggers remain)."""
        deltas: Counter[int] = Counter()
        for doc_id, time_ms, *_ in payload:
            old = old_times.get(doc_id)
            hour = time_ms // HOUR_MS * HOUR_MS
            if old is None:
                deltas[hour] += 1
            elif old // HOUR_MS * HOUR_MS != hour:
                deltas[old // HOUR_MS * HOUR_MS] -= 1
                deltas[hour] += 1
        dialer = scope[1] if kind.scope.by_dialer else 0  # the counts' "no dialer"
        connection.executemany(
            _ADD_COUNTS,
            [(scope[0], kind.table, dialer, hour, n) for hour, n in sorted(deltas.items()) if n],
        )

    def _scrub(self, tables: list[str]) -> None:
        # secure_delete zeroed the old rows in the pages the erasure wrote; the WAL still
        # holds earlier images of those pages. A TRUNCATE checkpoint copies the new pages
        # into the file and empties the WAL. Under the write lock: no write of ours between.
        checkpoint = "PRAGMA wal_checkpoint(TRUNCATE)"
        with self._writer:
            try:
                busy, reason = self._connection().execute(checkpoint).fetchone()[0], "busy"
            except sqlite3.Error as exc:
                busy, reason = 1, exc.__class__.__name__
        if busy:  # the erasure itself stands: it committed
            logger.warning(
                "erasure: the WAL was not emptied (%s): until a later checkpoint its older "
                "pages may hold the number; run the erasure again to retry",
                reason,
            )

    def refresh_statistics(self, kind: Kind, span: tuple[int, int] | None = None) -> None:
        """Nothing to do: without ANALYZE, SQLite plans from the indexes' shapes alone, and
        the indexes are shaped for the queries (migration 0004)."""

    def schema_revision(self) -> str | None:
        with self._reading() as connection:
            if connection.execute(_ALEMBIC_VERSION_TABLE).fetchone() is None:
                return None  # never migrated
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None

    def pool_stats(self) -> PoolStats | None:
        """None: no pool, a connection per thread; the thread gauges of /metrics measure it."""
        return None

    def close(self) -> None:
        self._poller.stop()
        with self._guard:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.execute("ROLLBACK")


def _translate(exc: sqlite3.Error) -> StorageError:
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return StoreUnavailableError("o banco de dados está ocupado; tente novamente")
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
        return StoreUnavailableError("o banco de dados não pode ser aberto")
    return StorageError(f"erro do banco de dados: {exc.__class__.__name__}")
