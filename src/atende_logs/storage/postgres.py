"""The PostgreSQL backend (production).

A bounded connection pool, a statement timeout on every connection, and bulk upserts: a
batch's rows arrive as one binary COPY into a staging table, merged by one statement.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg import IsolationLevel
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.string import ByteaBinaryLoader

from atende_logs.errors import (
    ParameterError,
    QueryTimeoutError,
    StorageError,
    StoreUnavailableError,
)
from atende_logs.kinds import Kind
from atende_logs.models import (
    ChangePage,
    ChangeQuery,
    Chunk,
    EncodedRows,
    Page,
    SearchQuery,
    StatsQuery,
    StatsRow,
)
from atende_logs.storage import _pgcopy
from atende_logs.storage._breaker import Breaker
from atende_logs.storage._changes import NOTIFY_CHANNEL, Key, change_table, upsert_changes
from atende_logs.storage._common import Dialect, DocRow, quote, upsert_sql
from atende_logs.storage._listener import Listener
from atende_logs.storage._partitioned import PartitionedStore
from atende_logs.storage._replicas import Replica, Replicas
from atende_logs.storage._stats import StatsStore
from atende_logs.storage.base import PoolStats

APPLICATION_NAME = "atende-logs"
"""How the server's connections appear in pg_stat_activity unless the URL names them."""
WAIT_SLICE_S = 0.25
"""A request waiting for a pooled connection looks this often whether the breaker opened
(``storage._breaker``): the database found gone while it waited answers it too."""
PROBE_CONNECT_TIMEOUT_S = 2
"""libpq's smallest connect_timeout: a probe to a host that drops packets gives up then."""


def _conninfo(database_url: str, statement_timeout_ms: int) -> str:
    """The connection string plus a server-side statement timeout and an application name,
    keeping other options."""
    params = conninfo_to_dict(database_url)
    options = f"{params.get('options') or ''} -c statement_timeout={statement_timeout_ms}"
    # Named, the server's connections can be told from others' in pg_stat_activity: to
    # count them, or to end them (pg_terminate_backend) without guessing by address.
    name = params.get("application_name") or APPLICATION_NAME
    return make_conninfo(database_url, options=options.strip(), application_name=name)


_T = TypeVar("_T")

DIALECT = Dialect(
    placeholder="%s",
    document="doc",
    distinct="IS DISTINCT FROM",
    keyed_by_time=True,
    split_counts=True,
)


def _staging(kind: Kind) -> str:
    return quote(f"staging_{kind.table}")


@lru_cache(maxsize=8)
def _staging_table(kind: Kind) -> str:
    # lz4 for the document, as the table compresses it (migration 0003): the compressed
    # value then moves to the table as it is; PostgreSQL's default here, pglz, slowed every
    # write (docs/benchmarks-history.md, "every design choice tried").
    columns = ", ".join(
        f"{quote(name)} {sql_type}" + (" COMPRESSION lz4" if name == "doc" else "")
        for name, sql_type in _pgcopy.staging_columns(kind)
    )
    return f"CREATE TEMP TABLE IF NOT EXISTS {_staging(kind)} ({columns}) ON COMMIT DELETE ROWS"


@lru_cache(maxsize=8)
def _copy_in(kind: Kind) -> str:
    columns = ", ".join(quote(name) for name, _ in _pgcopy.staging_columns(kind))
    return f"COPY {_staging(kind)} ({columns}) FROM STDIN (FORMAT BINARY)"


CLOCK_MS = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
"""The database's time in ms: on PostgreSQL every change's time is read from the one clock
of the database, after its sequence number's row lock is taken, so times grow with the
numbers whichever host wrote them (``storage._changes``)."""

NUMBERING = (
    "INSERT INTO data_versions (customer_id, kind, version) "
    "SELECT %(customer_id)s::integer, %(table)s, 1 WHERE (SELECT count(*) FROM written) > 0 "
    "ON CONFLICT (customer_id, kind) DO UPDATE SET version = data_versions.version + 1 "
    f"RETURNING version AS seq, {CLOCK_MS} AS at, pg_notify('{NOTIFY_CHANNEL}', %(notice)s)"
)
"""A batch's sequence number and time, as ``_changes.BUMP_VERSION`` takes them, taken only
when it changed something: the count reads every row of ``written``, so the lock is taken
after the upsert's, in the order every other writer takes them."""


@lru_cache(maxsize=8)
def _known_sql(kind: Kind) -> str:
    """The staged records already known: each one's id, its time now sent, the time its
    change row says its stored row has, and whether that row is there (a record dropped
    with its partition keeps its change row a while: docs/partitions.md).

    A lookup per staged row, forced by LATERAL: a join left to the planner read every
    change row of the customer for each batch (the temporary staging table has no
    statistics), and a re-import of 20,000 rows passed the statement timeout.

    The scope's ids reach the lookup as a subquery's result, which the planner does not
    see: told the id of a customer the change table's statistics do not know yet (one
    importing its first file), it expected a row or so and looked each record up in the
    feed's index (customer, seq, doc_id), reading every change row of the customer per
    record, so each batch was slower than the last (the history's entry:
    docs/benchmarks-history.md#2026-12-07-a-new-customers-import-slowed-batch-after-batch-issue-17).
    Not knowing the id, it plans for a customer of average size: the primary key. So for
    the stored rows: a re-import of such a customer read all its rows for each batch."""
    table, changes = quote(kind.table), change_table(kind)
    scope = [f"{c} = (SELECT %({c})s::integer)" for c in kind.scope.columns]
    of_record = " AND ".join([*(f"c.{c}" for c in scope), "c.doc_id = s.doc_id"])
    at = " AND ".join([*(f"d.{c}" for c in scope), "d.doc_id = s.doc_id"])
    return (
        f"SELECT s.doc_id, s.time_ms, k.time_ms, EXISTS (SELECT 1 FROM {table} d "
        f"WHERE {at} AND d.time_ms = k.time_ms) FROM {_staging(kind)} s CROSS JOIN LATERAL "
        f"(SELECT c.time_ms FROM {changes} c WHERE {of_record} AND NOT c.deleted LIMIT 1) k"
    )


@lru_cache(maxsize=32)
def _merge_sql(kind: Kind, numbering: str, newer_only: bool = False) -> str:
    """The staged batch into the table, and its changes into the change feed, in one
    statement; it returns how many rows were new.

    The table is partitioned by time and keyed by (scope, doc_id, time_ms) (migration
    0015): a record sent again with another time would be a second row. So the stored
    rows of records whose time changed (``%(moved_ids)s`` at ``%(moved_times)s``, read by
    ``_known_sql``) are deleted (``moved``); the upsert then inserts them at their new time.
    Writers of one customer's kind take turns (``_lock_writers``), so two first sendings of
    a record cannot both insert it, and what ``_known_sql`` read still holds.

    The upsert returns the rows it wrote (a row left as it was, nothing differing, is not
    returned: it counts as replaced, and is no change); a row is new unless its record was
    stored (``%(existing)s``). Each returned row moves to the batch's sequence number
    (``numbering``). ``newer_only``: as in ``upsert_sql``; the records whose stored time is
    later (``%(skipped)s``) are neither moved nor written.
    """
    table = quote(kind.table)
    scope = ", ".join(f"%({name})s::integer" for name in kind.scope.columns)
    columns = ", ".join(quote(name) for name, _ in _pgcopy.staging_columns(kind))
    values = f"SELECT {scope}, {columns} FROM {_staging(kind)} s"
    if newer_only:
        values += " WHERE s.doc_id <> ALL(%(skipped)s::text[])"
    upsert = upsert_sql(kind, values, DIALECT, newer_only)
    at = " AND ".join(f"d.{c} = %({c})s::integer" for c in kind.scope.columns)
    moved = (
        f"DELETE FROM {table} d WHERE {at} AND (d.doc_id, d.time_ms) IN "
        "(SELECT * FROM unnest(%(moved_ids)s::text[], %(moved_times)s::bigint[]))"
    )
    changes_sql = upsert_changes(
        kind,
        f"SELECT {scope}, w.doc_id, n.seq, n.at, false, w.time_ms, w.time_ms "
        "FROM written w CROSS JOIN numbered n",
    )
    return (
        f"WITH moved AS ({moved}), written AS ({upsert} RETURNING doc_id, time_ms), "
        f"numbered AS ({numbering}), changes AS ({changes_sql}) "
        "SELECT count(*) FILTER (WHERE w.doc_id <> ALL(%(existing)s::text[])) FROM written w"
    )


def _has_input(connection: psycopg.Connection[Any]) -> bool:
    """Whether an idle connection has anything to read (or is closed already)."""
    if connection.closed:
        return True
    poller = select.poll()  # not select(): a busy server's descriptors may pass 1024
    poller.register(connection.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))


@contextmanager
def _translated() -> Iterator[None]:
    """The driver's and the pool's errors as the store's own."""
    try:
        yield
    except psycopg.errors.QueryCanceled as exc:
        raise QueryTimeoutError("a consulta excedeu o tempo limite") from exc
    except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as exc:
        raise StoreUnavailableError("o banco de dados está indisponível") from exc
    except psycopg.Error as exc:
        raise StorageError(f"erro do banco de dados: {exc.__class__.__name__}") from exc


class PostgresStore(PartitionedStore, StatsStore):
    backend = "postgresql"
    dialect = DIALECT
    # The change notice goes out with the sequence number: NOTIFY is delivered at commit,
    # and only if the transaction commits.
    _bump_returning = f"RETURNING version, {CLOCK_MS}, pg_notify('{NOTIFY_CHANNEL}', ?)"
    _numbering = NUMBERING
    """How a batch of ``write_rows`` takes its sequence number (a test swaps it)."""

    def __init__(
        self,
        database_url: str,
        statement_timeout_ms: int = 10_000,
        pool_size: int = 8,
        replica_urls: Sequence[str] = (),
        replica_max_lag_ms: int = 1_000,
        partition_months: int = 1,
        partitions_ahead: int = 3,
    ) -> None:
        super().__init__()
        self.partition_months = partition_months
        self.partitions_ahead = partitions_ahead
        # This thread's session connection, if any, and the replica its reads go to.
        self._held = threading.local()
        self._conninfo = _conninfo(database_url, statement_timeout_ms)
        self._pool_size = pool_size
        self._pool_timeout_s = max(statement_timeout_ms / 1000, 1.0)
        self._listener = Listener(self._conninfo, self.signal)
        self._breaker = Breaker(self._probe, self._renew_pool)
        self._pool = self._new_pool()
        try:
            self._pool.open(wait=True, timeout=10)
        except psycopg_pool.PoolTimeout as exc:
            self._pool.close()
            raise StoreUnavailableError("o PostgreSQL não está acessível") from exc
        self._replicas = Replicas(
            [_conninfo(url, statement_timeout_ms) for url in replica_urls],
            self._new_pool,
            replica_max_lag_ms,
        )

    def _new_pool(self, conninfo: str | None = None) -> psycopg_pool.ConnectionPool[Any]:
        return psycopg_pool.ConnectionPool(
            conninfo or self._conninfo,
            min_size=1,
            max_size=self._pool_size,
            # A connection the server dropped is replaced before anyone gets it.
            check=self._check,
            timeout=self._pool_timeout_s,
            open=False,
        )

    def _probe(self) -> None:
        psycopg.connect(self._conninfo, connect_timeout=PROBE_CONNECT_TIMEOUT_S).close()

    def _renew_pool(self) -> None:
        """A fresh pool in place of one whose reconnection attempts back off (the breaker's
        ``on_recovered``). Connections borrowed from the old pool go back to it and are
        closed there; its closing waits for them in a thread of its own."""
        fresh = self._new_pool()
        fresh.open(wait=False)
        old, self._pool = self._pool, fresh
        threading.Thread(target=old.close, name="atende-old-pool", daemon=True).start()

    def _check(self, connection: psycopg.Connection[Any]) -> None:
        """The pool's test of a connection before handing it out.

        A connection the server closed (PostgreSQL restarted, a failover,
        pg_terminate_backend) has something to read: the server's last message, or the
        end of the stream. A healthy idle one has nothing to say. So a look at the socket
        (one system call) comes first, and only a connection with input pending gets the
        full test, an empty query: its round trip was one of the three statements of a
        page whose total is cached (docs/benchmarks-history.md, "The request's fixed cost").

        Connections die together, and psycopg_pool's own loop finds them one by one,
        sleeping 1, 2, 4 s… in between: a request could wait out the whole pool timeout
        behind dead connections (seen in tests/faults). So the first dead one sweeps the
        pool of the others at once.
        """
        if not _has_input(connection):
            return
        try:
            psycopg_pool.ConnectionPool.check_connection(connection)
        except psycopg.Error:
            self._breaker.suspect()  # restarted, or gone?
            self._pool.check()  # tests every idle connection, replacing the dead ones
            raise

    @contextmanager
    def session(self) -> Iterator[None]:
        if getattr(self._held, "connection", None) is not None:
            yield  # nested: the outer block's connection serves
            return
        with self._translated(), self._pooled() as connection:
            self._held.connection = connection
            try:
                yield
            finally:
                self._held.connection = None

    @contextmanager
    def _connection(self, isolation: IsolationLevel | None) -> Iterator[psycopg.Connection[Any]]:
        """A connection in a transaction of ``isolation`` (None: autocommit): the session's
        when the thread is in one, else one from the pool."""
        with self._translated(), self._borrowed() as connection:
            # Set on every use: the pool hands back what the last borrower left, and a
            # session's calls each want their own.
            connection.autocommit = isolation is None
            connection.isolation_level = isolation
            with connection:  # commits, or rolls back on an exception; a pooled one stays open
                yield connection

    @contextmanager
    def _apart(self) -> Iterator[psycopg.Connection[Any]]:
        with self._translated(), self._pooled() as connection:
            connection.autocommit = False
            connection.isolation_level = IsolationLevel.READ_COMMITTED
            yield connection

    @contextmanager
    def _borrowed(self) -> Iterator[psycopg.Connection[Any]]:
        held: psycopg.Connection[Any] | None = getattr(self._held, "connection", None)
        if held is not None:
            yield held
        else:
            with self._pooled() as connection:
                yield connection

    @contextmanager
    def _pooled(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool, or the store's 503 at once while the breaker is open."""
        deadline = time.monotonic() + self._pool_timeout_s
        while True:
            if self._breaker.is_open:
                raise StoreUnavailableError("o banco de dados está indisponível")
            pool = self._pool  # the breaker may renew it: the connection goes back to its own
            wait_s = min(WAIT_SLICE_S, deadline - time.monotonic())
            try:
                connection = pool.getconn(timeout=max(wait_s, 0.001))
                break
            except psycopg_pool.PoolTimeout:
                if time.monotonic() >= deadline:
                    raise
        try:
            with connection:  # commits, or rolls back on an exception; the pool keeps it open
                yield connection
        finally:
            pool.putconn(connection)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """``_translated``, and a lost connection or an exhausted pool makes the breaker look."""
        try:
            with _translated():
                yield
        except StoreUnavailableError:
            self._breaker.suspect()
            raise

    # Read replicas ----------------------------------------------------------------------

    def search(self, query: SearchQuery) -> Page:
        return self._replicated(lambda: super(PostgresStore, self).search(query))

    def scan(self, query: SearchQuery, limit: int) -> Chunk:
        return self._replicated(lambda: super(PostgresStore, self).scan(query, limit))

    def stats(self, query: StatsQuery) -> list[StatsRow]:
        return self._replicated(lambda: super(PostgresStore, self).stats(query))

    def changes_since(self, query: ChangeQuery) -> ChangePage:
        since = query.since.lsn if query.since is not None else None
        return self._replicated(lambda: super(PostgresStore, self).changes_since(query), since)

    def _replicated(self, read: Callable[[], _T], min_lsn: int | None = None) -> _T:
        """``read`` on a replica that qualifies (``storage._replicas``), else on the primary;
        on the primary again when the replica is lost under it, or lacks the item a list's
        ``after`` names (the client got it from a node ahead of this one)."""
        replica = self._replicas.pick(min_lsn) if self._replicas else None
        if replica is None:
            return read()
        self._held.replica = replica
        try:
            return read()
        except StoreUnavailableError:
            replica.breaker.suspect()
        except ParameterError as exc:
            if exc.parameter != "after":
                raise
        finally:
            self._held.replica = None
        return read()

    def _replica_reading(self) -> Any:
        replica: Replica | None = getattr(self._held, "replica", None)
        if replica is None:
            return self._reading()
        return self._on_replica(replica, IsolationLevel.REPEATABLE_READ)

    def _replica_statement(self) -> Any:
        replica: Replica | None = getattr(self._held, "replica", None)
        if replica is None:
            return self._statement()
        return self._on_replica(replica, None)

    @contextmanager
    def _on_replica(
        self, replica: Replica, isolation: IsolationLevel | None
    ) -> Iterator[psycopg.Connection[Any]]:
        with _translated(), replica.pool.connection() as connection:
            connection.autocommit = isolation is None
            connection.isolation_level = isolation
            with connection:
                yield connection

    def _read_lsn(self, connection: Any) -> int | None:
        if not self._replicas:
            return None
        row = self._one(
            connection,
            "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
            "ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn",
            [],
        )
        return int(row[0])

    def _reading(self) -> Any:
        # One snapshot for a page, its data version and its count.
        return self._connection(IsolationLevel.REPEATABLE_READ)

    _statements_share_a_snapshot = False  # autocommit: each statement its own

    def _statement(self) -> Any:
        # One statement is atomic on its own: autocommit spares the BEGIN and COMMIT round
        # trips, two of the four a key check paid, and half its time
        # (docs/benchmarks-history.md, "every design choice tried").
        return self._connection(None)

    def _writing(self) -> Any:
        # Upserts must not fail on concurrent writers: they wait for each other instead.
        return self._connection(IsolationLevel.READ_COMMITTED)

    def _as_docs(self, rows: list[Any]) -> list[DocRow]:
        # Only the ids are wanted as text, and only the last two rows' ids are ever used.
        return [(row[0], row[1].decode(), row[2]) for row in rows]

    def _rows(self, connection: Any, sql: str, params: list[Any]) -> list[Any]:
        # Rows in binary: a text value is then its UTF-8 bytes as stored, which psycopg's
        # bytea loader (C) hands over as they are, without decoding them to str: cheaper
        # than a Python loader doing the same (docs/benchmarks-history.md, "Page faults and
        # binary rows").
        cursor = connection.cursor(binary=True)
        cursor.adapters.register_loader("text", ByteaBinaryLoader)
        rows: list[Any] = cursor.execute(sql, params).fetchall()
        return rows

    # The module's own function, so that an import's parsing processes, which unpickle it,
    # load that module alone and not psycopg.
    encode_rows = staticmethod(_pgcopy.encode_rows)

    def _write_batch(
        self,
        connection: Any,
        kind: Kind,
        customer_id: int,
        scope: list[Any],
        rows: EncodedRows,
        newer_only: bool = False,
    ) -> tuple[int, int]:
        # COPY into a session-private staging table, then one statement merges it into the
        # table and records its changes: the rows arrive as one binary COPY
        # (storage._pgcopy), where array parameters for unnest() were built in Python, many
        # times slower (docs/benchmarks-history.md, "every design choice tried"). Only the
        # ids of records already stored come back, for the merge to move the ones whose
        # time changed (docs/partitions.md); the changed ids stay in the server
        # (docs/benchmarks-history.md, "Import at the COPY floor").
        self._lock_writers(connection, kind, customer_id)
        connection.execute(_staging_table(kind))
        with connection.cursor().copy(_copy_in(kind)) as copy:
            copy.write(rows.payload)
        # The scope is bound here, not carried in the payload: the writer alone decides
        # whose rows these are.
        params: dict[str, Any] = dict(zip(kind.scope.columns, scope, strict=True))
        params |= {"table": kind.table, "notice": f"{customer_id} {kind.table}"}
        known = connection.execute(_known_sql(kind), params).fetchall()
        moved = [
            (i, old) for i, new, old, _ in known if new != old and not (newer_only and old > new)
        ]
        params |= {
            "existing": [i for i, _, _, stored in known if stored],
            "moved_ids": [i for i, _ in moved],
            "moved_times": [old for _, old in moved],
            "skipped": [i for i, new, old, _ in known if newer_only and old > new],
        }
        (inserted,) = connection.execute(
            _merge_sql(kind, self._numbering, newer_only), params
        ).fetchone()
        return inserted, rows.count - inserted

    def _lock_writers(self, connection: Any, kind: Kind, customer_id: int) -> None:
        # A transaction-scoped advisory lock per (table, customer): see ``_merge_sql``.
        connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), %s)", [kind.table, customer_id]
        )

    def _write_changes(
        self,
        connection: Any,
        kind: Kind,
        customer_id: int,
        keys: Sequence[Key],
        seq: int,
        changed_at_ms: int,
        deleted: bool,
        times: Sequence[int] | None = None,
    ) -> None:
        # One statement over arrays, whatever the batch's size.
        within = kind.scope.columns[1:]
        names = [f"k{index}" for index in range(len(within) + 1)]
        arrays = ", ".join(["%s::integer[]"] * len(within) + ["%s::text[]", "%s::bigint[]"])
        values = (
            f"SELECT %s, {', '.join(names)}, %s, %s, %s, t, t "
            f"FROM unnest({arrays}) AS keys ({', '.join(names)}, t)"
        )
        columns = [list(column) for column in zip(*keys, strict=True)]
        columns.append(list(times) if times is not None else [None] * len(keys))
        connection.execute(
            upsert_changes(kind, values), [customer_id, seq, changed_at_ms, deleted, *columns]
        )

    def _listen(self) -> None:
        self._listener.start()

    def _scrub(self, tables: list[str]) -> None:
        # VACUUM removes the old row versions, their TOAST chunks and, forced by INDEX_CLEANUP
        # (left to itself it skips indexes when few rows died), their index entries. It
        # cannot run in a transaction, and on a large table it may pass the statement
        # timeout. Their bytes may still lie in the pages' free space: docs/lgpd.md.
        with self._connection(None) as connection:
            connection.execute("SET statement_timeout = 0")
            try:
                for table in tables:
                    connection.execute(f"VACUUM (INDEX_CLEANUP ON) {quote(table)}")
            finally:
                connection.execute("RESET statement_timeout")

    def refresh_statistics(self, kind: Kind, span: tuple[int, int] | None = None) -> None:
        # Until ANALYZE sees a new customer, PostgreSQL guesses it has a row or so, and picks
        # indexes for that guess: a count that reads the customer's whole index instead of
        # its time range. Autovacuum waits for a tenth of a partition to change; we don't.
        # A query plans each partition it reads by that partition's statistics, so only
        # those the import wrote to are analyzed: ANALYZE of the table samples every
        # partition and then the whole table again (docs/partitions.md, "Statistics").
        # Without the statement timeout (for each ANALYZE only): an import that stored
        # everything must not end in an error for it.
        for table in self._stale(kind, span):
            with self._connection(IsolationLevel.READ_COMMITTED) as connection:
                connection.execute("SET LOCAL statement_timeout = 0")
                connection.execute(f"ANALYZE {quote(table)}")

    def _stale(self, kind: Kind, span: tuple[int, int] | None) -> list[str]:
        """The tables whose statistics an import of rows within ``span`` made stale: the
        partitions it overlaps and the default one (which takes rows no period holds), or
        the whole table when the span is not known."""
        if span is None:
            return [kind.table]
        low, high = span
        return [
            partition.name
            for partition in self.list_partitions(kind)
            if partition.start_ms is None
            or partition.end_ms is None
            or (partition.start_ms <= high and low < partition.end_ms)
        ] or [kind.table]

    def schema_revision(self) -> str | None:
        try:
            with self._statement() as connection:
                row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except StorageError as exc:
            # Asked every second by /readyz: one statement, and the rare unmigrated schema
            # pays for the exception rather than every check for a catalog look-up.
            if isinstance(exc.__cause__, psycopg.errors.UndefinedTable):
                return None
            raise
        return str(row[0]) if row else None

    def pool_stats(self) -> PoolStats:
        stats = self._pool.get_stats()
        return PoolStats(
            size=stats["pool_size"],
            available=stats["pool_available"],
            max_size=stats["pool_max"],
            waiting=stats["requests_waiting"],
            unreachable=self._breaker.is_open,
        )

    def close(self) -> None:
        self._replicas.close()
        self._breaker.stop()
        self._listener.stop()
        self._pool.close()
