"""What both SQL backends share: the SQL of every operation, written once.

SQL here is written with ``?`` placeholders; what differs in the text between the two
databases is a backend's ``Dialect``. Backends supply connections, error translation and
the one operation whose best SQL differs: the bulk upsert.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from atende_logs import credentials
from atende_logs.errors import NotFoundError, ParameterError
from atende_logs.kinds import KINDS, Kind
from atende_logs.models import (
    UNRESTRICTED,
    Chunk,
    Cursor,
    Customer,
    Dialer,
    EncodedRows,
    IngestKey,
    IngestKeyInfo,
    IngestScope,
    KeyInfo,
    Page,
    SearchQuery,
)
from atende_logs.query.cursor import encode
from atende_logs.query.resume import candidate_ids
from atende_logs.storage._counts import CountCache
from atende_logs.storage._hourly import hourly_total_sql
from atende_logs.storage._key_use import KeyUseNotes, last_use_sql
from atende_logs.storage._versions import VERSION

DocRow = tuple[int, str, bytes]
"""(time_ms, doc_id, document bytes) of one stored document."""


@dataclass(frozen=True)
class Dialect:
    """What differs in the SQL text the two databases take."""

    placeholder: str
    """The driver's parameter marker. SQL here is written with ``?``, which ``sql`` turns
    into this (no statement here holds a literal ``?`` or ``%``)."""
    document: str
    """How a SELECT reads the ``doc`` column of a page: as bytes, never decoded to text."""
    distinct: str
    """The NULL-safe "differs" comparison of two rows."""
    keyed_by_time: bool = False
    """Whether the log tables' primary keys end with ``time_ms`` (PostgreSQL's tables,
    partitioned by time: migration 0015)."""
    split_counts: bool = False
    """Whether ``split_counts`` holds the records per hour and split value (PostgreSQL:
    migration 0016)."""

    def sql(self, text: str) -> str:
        """``text`` with this dialect's placeholders."""
        return text if self.placeholder == "?" else _placeholders(text, self.placeholder)


@lru_cache(maxsize=256)  # the same few statements, again and again
def _placeholders(text: str, placeholder: str) -> str:
    return text.replace("?", placeholder)


def quote(identifier: str) -> str:
    """An SQL identifier, quoted for both databases."""
    return '"' + identifier.replace('"', '""') + '"'


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def insert_columns(kind: Kind) -> list[str]:
    return [*kind.scope.columns, "doc_id", "time_ms", "doc", *kind.columns]


def upsert_sql(kind: Kind, values_sql: str, dialect: Dialect, newer_only: bool = False) -> str:
    """INSERT ... ON CONFLICT DO UPDATE for ``kind``; ``values_sql`` supplies the rows.

    ``newer_only``: a stored row is never replaced by one of an earlier time (the kind's
    time field): a broker's redelivery of an older version of a record (``consume``).

    A stored row is rewritten only where some value differs, by the dialect's NULL-safe
    row comparison (``IS DISTINCT FROM``; SQLite before 3.39 knows only ``IS NOT``). A
    document sent again unchanged, the common case of a producer's retry or a re-import,
    then costs a comparison instead of a new row version, its index entries and its log.
    """
    columns = insert_columns(kind)
    # A table partitioned by time is keyed by time too: a stored row at another time is
    # moved by the caller (PostgreSQL's ``_merge_sql``).
    key = [*kind.scope.columns, "doc_id", *(["time_ms"] if dialect.keyed_by_time else [])]
    conflict = ", ".join(quote(c) for c in key)
    replaced = [quote(c) for c in ["time_ms", "doc", *kind.columns]]
    updates = ", ".join(f"{c} = excluded.{c}" for c in replaced)
    table = quote(kind.table)
    stored = ", ".join(f"{table}.{c}" for c in replaced)
    sent = ", ".join(f"excluded.{c}" for c in replaced)
    newer = f" AND {table}.time_ms <= excluded.time_ms" if newer_only else ""
    return (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) {values_sql} "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {updates} "
        f"WHERE ({stored}) {dialect.distinct} ({sent}){newer}"
    )


def search_sql(
    query: SearchQuery, dialer_id: int | None, dialect: Dialect, versioned: bool = False
) -> tuple[str, list[Any], str, list[Any]]:
    """The page query (size + 1 rows, to see past the page) and the count query; the count
    also gives the data version it saw, and so does every row of a ``versioned`` page.

    The start bound and the cursor fold into one lower bound on the time index, so a deep
    page costs what a first page costs.
    """
    where, params = _filters(query, dialer_id)
    count_where, count_params = list(where), list(params)
    if query.start_ms is not None:
        count_where.append("time_ms >= ?")
        count_params.append(query.start_ms)
    page, page_params = _rows_sql(query, where, params, query.size + 1, dialect, versioned)
    count = f"SELECT count(*) FROM {quote(query.kind.table)} WHERE {' AND '.join(count_where)}"
    hourly = hourly_total_sql(query, dialer_id)
    if hourly is not None:
        count, count_params = hourly  # exact too, and in bounded time on large listings
    # The count reads the version too, in its own statement's snapshot (_page_and_total).
    count = f"SELECT ({count}), {VERSION}"
    return page, page_params, count, [*count_params, query.customer_id, query.kind.table]


def scan_sql(
    query: SearchQuery, dialer_id: int | None, limit: int, dialect: Dialect
) -> tuple[str, list[Any]]:
    """The next ``limit`` rows of a listing after its cursor: one chunk of an export."""
    where, params = _filters(query, dialer_id)
    return _rows_sql(query, where, params, limit, dialect)


def filter_conditions(query: SearchQuery, alias: str) -> tuple[list[str], list[Any]]:
    """What a document of the table aliased ``alias`` must satisfy to be in the listing
    of ``query``, its scope aside: the time bounds and every filter (the change feed's
    test of each changed document, ``storage._changes``)."""
    where: list[str] = []
    params: list[Any] = []
    if query.start_ms is not None:
        where.append(f"{alias}time_ms >= ?")
        params.append(query.start_ms)
    if query.end_ms is not None:
        where.append(f"{alias}time_ms <= ?")
        params.append(query.end_ms)
    for condition in query.conditions:
        where.append(f"{alias}{quote(condition.spec.column)} {condition.spec.op} ?")
        params.append(condition.value)
    return where, params


def _filters(query: SearchQuery, dialer_id: int | None) -> tuple[list[str], list[Any]]:
    """The customer scope, the end bound and the filters: what a listing and its count share."""
    where = ["customer_id = ?"]
    params: list[Any] = [query.customer_id]
    if dialer_id is not None:
        where.append("dialer_id = ?")
        params.append(dialer_id)
    if query.end_ms is not None:
        where.append("time_ms <= ?")
        params.append(query.end_ms)
    for condition in query.conditions:
        where.append(f"{quote(condition.spec.column)} {condition.spec.op} ?")
        params.append(condition.value)
    return where, params


def _rows_sql(
    query: SearchQuery,
    where: list[str],
    params: list[Any],
    limit: int,
    dialect: Dialect,
    versioned: bool = False,
) -> tuple[str, list[Any]]:
    """Rows of (time_ms, doc_id, doc), plus the data version they were read at when
    ``versioned`` (the same on every row: one value per statement)."""
    where_lower, lower_params = _lower_bound(query)
    version = f", {VERSION}" if versioned else ""
    version_params = [query.customer_id, query.kind.table] if versioned else []
    sql = (
        f"SELECT time_ms, doc_id, {dialect.document}{version} FROM {quote(query.kind.table)} "
        f"WHERE {' AND '.join(where + where_lower)} ORDER BY time_ms, doc_id LIMIT ?"
    )
    return sql, [*version_params, *params, *lower_params, limit]


def _lower_bound(query: SearchQuery) -> tuple[list[str], list[Any]]:
    """Where a page starts: ``start_at`` and ``after`` folded into one bound.

    One bound, because with two (a time range and a cursor) the databases range over the
    index on one only and filter the rest, so a page deep inside a large tie would re-read
    the tie from its start. A plain-number ``after`` means strictly after that millisecond;
    a token resumes after (time, id), with the row comparison the index serves directly.
    """
    start, after = query.start_ms, query.after
    if after is None:
        return (["time_ms >= ?"], [start]) if start is not None else ([], [])
    if after.doc_id is None:
        return ["time_ms >= ?"], [max(after.time_ms + 1, start or 0)]
    if start is not None and start > after.time_ms:
        return ["time_ms >= ?"], [start]
    return ["(time_ms, doc_id) > (?, ?)"], [after.time_ms, after.doc_id]


def _checked_scope(scope: IngestScope) -> list[int]:
    """The customers a new ingest key is scoped to, sorted ([] for every customer).

    Raises ValueError for a scope of no customer or no kind, or a kind that does not exist.
    """
    if scope.customers is not None and not scope.customers:
        raise ValueError("an ingest key scoped to no customer could write nothing")
    if scope.kinds is not None:
        unknown = sorted(scope.kinds - set(KINDS))
        if unknown or not scope.kinds:
            raise ValueError(f"unknown kinds {unknown}; one of: {', '.join(KINDS)}")
    return sorted(scope.customers or ())


def _ingest_scope(
    all_customers: Any, kinds: str | None, customers: list[int] | None
) -> IngestScope:
    """A key's scope from its row (``all_customers`` is 0/1 on SQLite) and its customers."""
    return IngestScope(
        customers=None if all_customers else frozenset(customers or ()),
        kinds=None if kinds is None else frozenset(kinds.split(",")),
    )


def next_after(rows: Sequence[DocRow], size: int) -> int | str | None:
    """The page's ``after``: a number when the last item's millisecond alone continues.

    ``rows`` holds up to size + 1 rows; the extra one tells whether the next matching item
    shares the last item's millisecond.
    """
    if not rows:
        return None
    last = rows[min(size, len(rows)) - 1]
    if len(rows) > size and rows[size][0] == last[0]:
        return encode(last[0], last[1])
    return last[0]


class SqlStore(ABC):
    """The ``Store`` operations, over a backend's connections."""

    backend: str
    dialect: Dialect

    def __init__(self) -> None:
        self.counts = CountCache()
        """Totals of recent listings, valid for one data version (``storage._counts``)."""
        self.key_use = KeyUseNotes()
        """Key uses noted by authentication, not yet written (``storage._key_use``)."""

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Any]:
        """A connection for reads."""

    _statements_share_a_snapshot = True
    """Whether the statements run in one ``_statement`` block see one snapshot (they do
    unless a backend runs them outside a transaction)."""

    def session(self) -> AbstractContextManager[None]:
        return nullcontext()

    def _statement(self) -> AbstractContextManager[Any]:
        """A connection for one read statement, which needs no transaction of its own."""
        return self._reading()

    # A replica may serve these two (``storage._replicas``); the backends without replicas
    # read where every other read goes.
    def _replica_reading(self) -> AbstractContextManager[Any]:
        return self._reading()

    def _replica_statement(self) -> AbstractContextManager[Any]:
        return self._statement()

    @abstractmethod
    def _writing(self) -> AbstractContextManager[Any]:
        """A connection in a transaction that commits when the block succeeds."""

    @abstractmethod
    def _rows(self, connection: Any, sql: str, params: list[Any]) -> list[Any]:
        """The rows of a query of ``_rows_sql``, the document as bytes (``Dialect.document``)."""

    @abstractmethod
    def _as_docs(self, rows: list[Any]) -> list[DocRow]:
        """``_rows``' rows as (time_ms, doc_id, doc)."""

    def _fetch_docs(self, connection: Any, sql: str, params: list[Any]) -> list[DocRow]:
        return self._as_docs(self._rows(connection, sql, params))

    def _fetch_page(
        self, connection: Any, sql: str, params: list[Any]
    ) -> tuple[list[DocRow], int | None]:
        """A page's rows, and the data version a versioned page's rows carry as a fourth
        column (None for another page, or no rows)."""
        rows = self._rows(connection, sql, params)
        return self._as_docs(rows), rows[0][3] if rows and len(rows[0]) > 3 else None

    @abstractmethod
    def _write_batch(
        self,
        connection: Any,
        kind: Kind,
        customer_id: int,
        scope: list[Any],
        rows: EncodedRows,
        newer_only: bool = False,
    ) -> tuple[int, int]:
        """``write_rows``' work in its transaction: insert or replace ``rows`` in the scope
        (the values of ``kind.scope.columns``) and record the documents inserted or that
        differed from the stored ones as changes (``_record_changes``: an identical
        document sent again moves nothing, and leaves the cached totals valid).
        ``newer_only``: as in ``upsert_sql``; a row left as it was for it counts as
        replaced. Returns (inserted, replaced)."""

    def _sql(self, sql: str) -> str:
        return self.dialect.sql(sql)

    def _one(self, connection: Any, sql: str, params: Sequence[Any]) -> Any:
        row = connection.execute(self._sql(sql), params).fetchone()
        return row

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._statement() as connection:
            return list(connection.execute(self._sql(sql), params).fetchall())

    # Customers -------------------------------------------------------------------------

    def create_customer(self, name: str) -> Customer:
        created = now_ms()
        with self._writing() as connection:
            row = self._one(
                connection,
                "INSERT INTO customers (name, created_at_ms) VALUES (?, ?) RETURNING id",
                [name, created],
            )
        return Customer(row[0], name, created)

    def get_customer(self, customer_id: int) -> Customer | None:
        rows = self._all(
            "SELECT id, name, created_at_ms FROM customers WHERE id = ?", [customer_id]
        )
        return Customer(*rows[0]) if rows else None

    def list_customers(self) -> list[Customer]:
        return [
            Customer(*row)
            for row in self._all("SELECT id, name, created_at_ms FROM customers ORDER BY id")
        ]

    # Keys ------------------------------------------------------------------------------

    def create_api_key(self, customer_id: int) -> tuple[KeyInfo, str]:
        if self.get_customer(customer_id) is None:
            raise NotFoundError(f"cliente {customer_id} não existe")
        return self._new_key("api_keys", "customer_id", customer_id, credentials.CUSTOMER_KEY)

    def list_api_keys(self, customer_id: int) -> list[KeyInfo]:
        return self._keys("api_keys", "customer_id", "WHERE customer_id = ?", [customer_id])

    def revoke_api_key(self, key_id: int) -> bool:
        return self._revoke("api_keys", key_id)

    def authenticate(self, secret: str) -> int | None:
        if not credentials.is_well_formed(secret, credentials.CUSTOMER_KEY):
            return None
        rows = self._all(
            "SELECT id, customer_id FROM api_keys WHERE digest = ? AND revoked_at_ms IS NULL",
            [credentials.digest(secret)],
        )
        if not rows:
            return None
        self.key_use.note("api_keys", rows[0][0], now_ms())
        return int(rows[0][1])

    def create_ingest_key(
        self, name: str, scope: IngestScope = UNRESTRICTED
    ) -> tuple[IngestKeyInfo, str]:
        customers = _checked_scope(scope)
        missing = [c for c in customers if self.get_customer(c) is None]
        if missing:  # customers are never deleted: checked once, here, before writing
            raise NotFoundError(f"cliente {missing[0]} não existe")
        secret = credentials.generate(credentials.INGEST_KEY)
        prefix, created = credentials.display_prefix(secret), now_ms()
        kinds = None if scope.kinds is None else ",".join(sorted(scope.kinds))
        with self._writing() as connection:
            row = self._one(
                connection,
                "INSERT INTO ingest_keys (name, prefix, digest, created_at_ms, all_customers, "
                "kinds) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                [name, prefix, credentials.digest(secret), created, scope.customers is None, kinds],
            )
            for customer_id in customers:
                connection.execute(
                    self._sql(
                        "INSERT INTO ingest_key_customers (ingest_key_id, customer_id) "
                        "VALUES (?, ?)"
                    ),
                    [row[0], customer_id],
                )
        return IngestKeyInfo(row[0], name, prefix, created, None, scope=scope), secret

    def list_ingest_keys(self) -> list[IngestKeyInfo]:
        rows = self._all(
            "SELECT id, name, prefix, created_at_ms, revoked_at_ms, last_used_at_ms, "
            "all_customers, kinds FROM ingest_keys ORDER BY id"
        )
        customers: dict[int, list[int]] = {}
        for key_id, customer_id in self._all(
            "SELECT ingest_key_id, customer_id FROM ingest_key_customers "
            "ORDER BY ingest_key_id, customer_id"
        ):
            customers.setdefault(key_id, []).append(customer_id)
        return [
            IngestKeyInfo(
                key_id,
                name,
                prefix,
                created,
                revoked,
                used,
                scope=_ingest_scope(all_customers, kinds, customers.get(key_id)),
            )
            for key_id, name, prefix, created, revoked, used, all_customers, kinds in rows
        ]

    def revoke_ingest_key(self, key_id: int) -> bool:
        return self._revoke("ingest_keys", key_id)

    def authenticate_ingest(self, secret: str) -> IngestKey | None:
        if not credentials.is_well_formed(secret, credentials.INGEST_KEY):
            return None
        # One row per customer in the key's scope (one row, without a customer, for a key
        # of every customer): one statement whatever the scope.
        rows = self._all(
            "SELECT k.id, k.all_customers, k.kinds, c.customer_id FROM ingest_keys k "
            "LEFT JOIN ingest_key_customers c ON c.ingest_key_id = k.id "
            "WHERE k.digest = ? AND k.revoked_at_ms IS NULL",
            [credentials.digest(secret)],
        )
        if not rows:
            return None
        key_id, all_customers, kinds = rows[0][:3]
        self.key_use.note("ingest_keys", key_id, now_ms())
        scoped = [row[3] for row in rows if row[3] is not None]
        return IngestKey(key_id, _ingest_scope(all_customers, kinds, scoped))

    def key_use_pending(self) -> bool:
        return self.key_use.pending()

    def record_key_use(self) -> None:
        if not self.key_use.pending():
            return
        due = self.key_use.take()
        with self._writing() as connection:
            for (table, key_id), used_at_ms in due.items():
                connection.execute(self._sql(last_use_sql(table)), [used_at_ms, key_id, used_at_ms])

    def _new_key(
        self, table: str, owner_column: str, owner: Any, kind: credentials.SecretType
    ) -> tuple[KeyInfo, str]:
        secret = credentials.generate(kind)
        prefix, created = credentials.display_prefix(secret), now_ms()
        with self._writing() as connection:
            row = self._one(
                connection,
                f"INSERT INTO {table} ({owner_column}, prefix, digest, created_at_ms) "
                "VALUES (?, ?, ?, ?) RETURNING id",
                [owner, prefix, credentials.digest(secret), created],
            )
        return KeyInfo(row[0], owner, prefix, created, None), secret

    def _keys(self, table: str, owner_column: str, where: str, params: list[Any]) -> list[KeyInfo]:
        rows = self._all(
            f"SELECT id, {owner_column}, prefix, created_at_ms, revoked_at_ms, last_used_at_ms "
            f"FROM {table} {where} ORDER BY id",
            params,
        )
        return [KeyInfo(*row) for row in rows]

    def _revoke(self, table: str, key_id: int) -> bool:
        with self._writing() as connection:
            cursor = connection.execute(
                self._sql(
                    f"UPDATE {table} SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL"
                ),
                [now_ms(), key_id],
            )
            return bool(cursor.rowcount)

    # Dialers ---------------------------------------------------------------------------

    def create_dialer(self, customer_id: int, name: str) -> tuple[Dialer, str]:
        if self.get_customer(customer_id) is None:
            raise NotFoundError(f"cliente {customer_id} não existe")
        token = credentials.generate(credentials.DIALER_TOKEN)
        prefix, created = credentials.display_prefix(token), now_ms()
        with self._writing() as connection:
            row = self._one(
                connection,
                "INSERT INTO dialers (customer_id, name, token_prefix, token_digest, "
                "created_at_ms) VALUES (?, ?, ?, ?, ?) RETURNING id",
                [customer_id, name, prefix, credentials.digest(token), created],
            )
        return Dialer(row[0], customer_id, name, prefix, created), token

    def list_dialers(self, customer_id: int) -> list[Dialer]:
        return [
            Dialer(*row)
            for row in self._all(
                f"{_DIALER_COLUMNS} WHERE customer_id = ? ORDER BY id", [customer_id]
            )
        ]

    def get_dialer(self, customer_id: int, dialer_id: int) -> Dialer | None:
        rows = self._all(
            f"{_DIALER_COLUMNS} WHERE customer_id = ? AND id = ?", [customer_id, dialer_id]
        )
        return Dialer(*rows[0]) if rows else None

    def find_dialer(self, customer_id: int, token: str) -> Dialer | None:
        if not credentials.is_well_formed(token, credentials.DIALER_TOKEN):
            return None
        rows = self._all(
            f"{_DIALER_COLUMNS} WHERE customer_id = ? AND token_digest = ?",
            [customer_id, credentials.digest(token)],
        )
        return Dialer(*rows[0]) if rows else None

    def rotate_dialer_token(self, customer_id: int, dialer_id: int) -> str:
        token = credentials.generate(credentials.DIALER_TOKEN)
        with self._writing() as connection:
            cursor = connection.execute(
                self._sql(
                    "UPDATE dialers SET token_prefix = ?, token_digest = ? "
                    "WHERE customer_id = ? AND id = ?"
                ),
                [
                    credentials.display_prefix(token),
                    credentials.digest(token),
                    customer_id,
                    dialer_id,
                ],
            )
            if not cursor.rowcount:
                raise NotFoundError(f"discador {dialer_id} não existe para o cliente")
        return token

    # Logs ------------------------------------------------------------------------------

    def write_rows(
        self,
        customer_id: int,
        kind: Kind,
        rows: EncodedRows,
        dialer_id: int | None = None,
        *,
        newer_only: bool = False,
    ) -> tuple[int, int]:
        if not rows.count:
            return 0, 0
        scope: list[Any] = kind.scope.key(customer_id, dialer_id)
        with self._writing() as connection:
            return self._write_batch(connection, kind, customer_id, scope, rows, newer_only)

    @abstractmethod
    def _record_changes(
        self,
        connection: Any,
        kind: Kind,
        customer_id: int,
        keys: Sequence[tuple[Any, ...]],
        deleted: bool = False,
    ) -> None:
        """Give the documents at ``keys`` (below the customer) a new position in the change
        feed, in the transaction that changed them (``storage._changes``)."""

    @abstractmethod
    def refresh_statistics(self, kind: Kind, span: tuple[int, int] | None = None) -> None:
        """Let the planner learn a table's contents after a large import."""

    def search(self, query: SearchQuery) -> Page:
        dialer_id = self._dialer_id(query)
        # Statements, not a transaction, where the backend makes that cheaper (PostgreSQL:
        # BEGIN, a version read and COMMIT were three of a small page's five round trips).
        # The page and the count each carry the data version they saw; when those differ,
        # a write came between them, and both are read again in one snapshot.
        with self._replica_statement() as connection:
            query = self._resolved(connection, query, dialer_id)
            # Only a page read outside a transaction needs to say which data it saw: SQLite
            # would pay for the version column on every row for nothing
            # (docs/benchmarks-history.md, "The request's fixed cost").
            versioned = not self._statements_share_a_snapshot
            sqls = search_sql(query, dialer_id, self.dialect, versioned)
            rows, total = self._page_and_total(
                connection, query, *sqls, one_snapshot=self._statements_share_a_snapshot
            )
        if total is None:
            with self._replica_reading() as connection:
                rows, total = self._page_and_total(connection, query, *sqls, one_snapshot=True)
        assert total is not None
        return Page(total, next_after(rows, query.size), [row[2] for row in rows[: query.size]])

    def _page_and_total(
        self,
        connection: Any,
        query: SearchQuery,
        page_sql: str,
        page_params: list[Any],
        count_sql: str,
        count_params: list[Any],
        one_snapshot: bool = False,
    ) -> tuple[list[DocRow], int | None]:
        """The page's rows and the listing's total; the total is None when it was counted
        on other data than the page's (possible only unless ``one_snapshot``)."""
        rows, version = self._fetch_page(connection, self._sql(page_sql), page_params)
        if query.after is None and len(rows) <= query.size:
            return rows, len(rows)  # the whole result fits this first page: nothing to count
        # Counted once per data version, then reused by the listing's pages. Any write to
        # the customer's kind bumps the version in its own transaction, so equal versions
        # mean the count and the page saw the same rows: the figure stays exact.
        if version is None:  # an unversioned or empty page: its rows told no version
            if not one_snapshot:
                return rows, None
            version = self._one(
                connection, f"SELECT {VERSION}", [query.customer_id, query.kind.table]
            )[0]
        # The statement's text with its parameters: two filters sharing a value (kind and
        # description, say) share parameters, not SQL (issue 21).
        key = (count_sql, *count_params)
        total = self.counts.get(key, version)
        if total is not None:
            return rows, total
        total, counted_at = self._one(connection, count_sql, count_params)
        self.counts.put(key, counted_at, total)
        return rows, total if one_snapshot or counted_at == version else None

    def scan(self, query: SearchQuery, limit: int) -> Chunk:
        dialer_id = self._dialer_id(query)
        # One short read transaction per chunk: a long export never holds a snapshot (nor,
        # on SQLite, the WAL) for its whole duration, and each chunk has the statement
        # timeout of a page.
        with self._replica_reading() as connection:
            query = self._resolved(connection, query, dialer_id)
            sql, params = scan_sql(query, dialer_id, limit, self.dialect)
            rows = self._fetch_docs(connection, self._sql(sql), params)
        last = Cursor(rows[-1][0], rows[-1][1]) if rows else None
        return Chunk([row[2] for row in rows], last)

    def _dialer_id(self, query: SearchQuery) -> int | None:
        """The id of the dialer a query names by its token (for a kind whose documents are a
        dialer's); NotFoundError when it is not the caller's."""
        if not query.kind.scope.by_dialer:
            return None
        dialer = self.find_dialer(query.customer_id, query.dialer_token or "")
        if dialer is None:
            raise NotFoundError("discador não encontrado")
        return dialer.id

    def _resolved(self, connection: Any, query: SearchQuery, dialer_id: int | None) -> SearchQuery:
        """``query`` with an ``after`` naming an item turned into that item's position.

        One primary-key read, scoped to the customer (and dialer): another customer's ids
        are as unknown as ids nobody has.
        """
        ref = query.after_item
        if ref is None:
            return query
        ids = candidate_ids(ref, dialer_id)
        where, params = ["customer_id = ?"], [query.customer_id]
        if dialer_id is not None:
            where.append("dialer_id = ?")
            params.append(dialer_id)
        row = self._one(
            connection,
            f"SELECT time_ms, doc_id FROM {quote(query.kind.table)} WHERE {' AND '.join(where)} "
            f"AND doc_id IN ({', '.join('?' for _ in ids)}) ORDER BY doc_id LIMIT 1",
            [*params, *ids],
        )
        if row is None:
            raise ParameterError(
                "after", "after não corresponde a nenhum dos seus itens: use o último recebido"
            )
        return replace(query, after=Cursor(row[0], row[1]), after_item=None)


_DIALER_COLUMNS = "SELECT id, customer_id, name, token_prefix, created_at_ms FROM dialers"
