"""The change feed's storage (issue 16): recording changes, reading them, pruning tombstones.

Each log table has a change table (migration 0013) with one row per document that ever
existed: the position of its latest change and when it was made. A transaction that
changes documents of a customer's kind takes the next *sequence number* of that kind (its
data version, bumped under a row lock held until commit, so on PostgreSQL sequence numbers
commit in order) and moves each changed document's row to it. Its position is then (seq,
doc_id). The feed reads the rows past a position, joined to the documents as they are now:
a row whose document is gone, or no longer matches the request's filters, is a delete.
docs/sync.md says why this gives every guarantee the feed makes.

The SQL is shared; a backend supplies how a batch of change rows is written and how a
commit reaches waiting readers (``_listen``).
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from atende_logs.errors import HistoryGoneError
from atende_logs.kinds import Kind
from atende_logs.models import FEED_START, Change, ChangePage, ChangeQuery, FeedPosition
from atende_logs.storage._common import SqlStore, filter_conditions, now_ms, quote
from atende_logs.storage._signal import ChangeSignal, ChangeWatch
from atende_logs.storage._versions import BUMP_VERSION

Key = tuple[Any, ...]
"""A document's key below its customer: (doc_id,), or (dialer_id, doc_id) for a dialer's."""
NOTIFY_CHANNEL = "atende_changes"
"""PostgreSQL's channel for change notices; the payload is ``<customer id> <log table>``."""
_GONE = (
    "since é anterior ao histórico de mudanças guardado (eventos de remoção mais antigos "
    "foram descartados): recomece sem since e substitua a sua cópia"
)
_SEARCH_STEPS = 64
"""Enough halvings of any sequence number to find where a time starts."""


def change_table(kind: Kind) -> str:
    """The quoted name of ``kind``'s change table (``log_tables.change_table``)."""
    return quote(f"{kind.table}_changes")


class FeedStore(SqlStore):
    """``SqlStore`` plus the change feed."""

    _bump_returning = "RETURNING version"
    """What the sequence number's bump returns: the number and, where the database keeps the
    clock (PostgreSQL, which adds its NOTIFY too), the change's time in ms."""

    def __init__(self) -> None:
        super().__init__()
        self.signal = ChangeSignal()
        """The watches of readers waiting for changes (``storage._signal``)."""

    # Writing ---------------------------------------------------------------------------

    def _record_changes(
        self,
        connection: Any,
        kind: Kind,
        customer_id: int,
        keys: Sequence[Key],
        deleted: bool = False,
        times: Sequence[int] | None = None,
    ) -> None:
        """Move each document at ``keys`` to a new position, in the writing transaction:
        the kind's next sequence number, which retires its cached totals too. ``deleted``:
        the documents are gone (tombstones). ``times``: the documents' times as written
        (None: unchanged). Nothing is written for no keys."""
        if not keys:
            return
        seq, changed_at_ms = self._next_seq(connection, customer_id, kind)
        self._write_changes(connection, kind, customer_id, keys, seq, changed_at_ms, deleted, times)
        self._noted(customer_id, kind)

    def _next_seq(self, connection: Any, customer_id: int, kind: Kind) -> tuple[int, int]:
        """Bump the customer's kind's data version and return it, with the change's time,
        read after it: a row lock on PostgreSQL, held until commit, so the next
        transaction's number is taken after this one is visible to every reader
        (docs/sync.md, "No gap"), and its time is no earlier than this one's."""
        params: list[Any] = [customer_id, kind.table]
        if "?" in self._bump_returning:
            params.append(f"{customer_id} {kind.table}")
        row = self._one(connection, f"{BUMP_VERSION} {self._bump_returning}", params)
        return int(row[0]), int(row[1]) if len(row) > 1 else now_ms()

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
        """Upsert the change rows of ``keys`` at ``seq`` (SQLite's way: ``executemany``)."""
        connection.executemany(
            self._sql(upsert_changes(kind, f"VALUES ({', '.join('?' for _ in _columns(kind))})")),
            [
                (customer_id, *key, seq, changed_at_ms, deleted, time_ms, time_ms)
                for key, time_ms in zip(
                    keys, times if times is not None else [None] * len(keys), strict=True
                )
            ],
        )

    def _read_lsn(self, connection: Any) -> int | None:
        """Where the database's WAL stands, for a feed cursor to carry when replicas may serve
        the next page (``FeedPosition.lsn``); None where no replica can."""
        return None

    def _noted(self, customer_id: int, kind: Kind) -> None:
        """A change of the customer's kind will commit with the current transaction (a
        backend whose commits do not notify by themselves keeps it for after the commit)."""

    # Reading ---------------------------------------------------------------------------

    def changes_since(self, query: ChangeQuery) -> ChangePage:
        listing = query.listing
        kind = listing.kind
        dialer_id = self._dialer_id(listing)
        with self._replica_reading() as connection:
            lsn = self._read_lsn(connection)
            horizon = self._one(
                connection,
                "SELECT seq, doc_id, changed_at_ms FROM change_horizons "
                "WHERE customer_id = ? AND kind = ?",
                [listing.customer_id, kind.table],
            )
            start = self._start(connection, query, dialer_id, horizon)
            sql, params = _page_sql(query, dialer_id, start, self.dialect)
            rows = self._rows(connection, self._sql(sql), params)
            # A mark comes after the tombstones its transaction wrote (same seq, any doc_id):
            # a position among those is still before it.
            after = ">" if start.doc_id is None else ">="
            marks = self._rows(
                connection,
                self._sql(
                    "SELECT seq, before_ms, changed_at_ms FROM retention_marks "
                    f"WHERE customer_id = ? AND kind = ? AND seq {after} ? ORDER BY seq LIMIT ?"
                ),
                [listing.customer_id, kind.table, start.seq, listing.size + 1],
            )
        changes = [
            Change(
                _text(doc_id), FeedPosition(seq, _text(doc_id), start.floor, lsn), changed_at, doc
            )
            for seq, doc_id, changed_at, doc in rows
        ]
        if marks:  # after every change of its transaction: the position (seq, None)
            changes += [
                Change("", FeedPosition(seq, None, start.floor, lsn), at, None, before)
                for seq, before, at in marks
            ]
            changes.sort(key=lambda change: change.position.key())
        end_of_stream = len(changes) <= listing.size
        changes = changes[: listing.size]
        position = changes[-1].position if changes else replace(start, lsn=lsn)
        return ChangePage(changes, position, end_of_stream=end_of_stream)

    def _start(
        self, connection: Any, query: ChangeQuery, dialer_id: int | None, horizon: Any
    ) -> FeedPosition:
        """Where a request starts; HistoryGoneError when the history it needs was pruned.

        A consumer that began (from the start or a time) after a prune never needed the
        removals it forgot: its positions carry that horizon (``floor``), and only a later
        prune past its position sends it back to the start."""
        floor = None if horizon is None else (int(horizon[0]), _text(horizon[1]))
        if query.since is not None:
            since = query.since
            if floor is not None and since.key() < FeedPosition(*floor).key():
                if (
                    since.floor is None
                    or FeedPosition(*since.floor).key() < FeedPosition(*floor).key()
                ):
                    raise HistoryGoneError(_GONE)
            return since
        if query.since_ms is None:
            return replace(FEED_START, floor=floor)
        if horizon is not None and query.since_ms <= horizon[2]:
            raise HistoryGoneError(_GONE)
        return replace(self._position_at(connection, query, dialer_id), floor=floor)

    def _position_at(
        self, connection: Any, query: ChangeQuery, dialer_id: int | None
    ) -> FeedPosition:
        """The position just before the first change made at or after ``since_ms``.

        Sequence numbers are taken in commit order and each change's time after its number
        (``_record_changes``), so times grow with them: a binary search over the numbers,
        each step one index probe, finds it however long the history.
        """
        listing = query.listing
        scope, params = _scope(listing.customer_id, dialer_id, "")
        probe = self._sql(
            f"SELECT changed_at_ms FROM {change_table(listing.kind)} WHERE {scope} "
            "AND seq <= ? ORDER BY seq DESC LIMIT 1"
        )
        last = self._one(
            connection,
            f"SELECT seq FROM {change_table(listing.kind)} WHERE {scope} ORDER BY seq DESC LIMIT 1",
            params,
        )
        if last is None:
            return FEED_START
        low, high = (
            -1,
            int(last[0]),
        )  # changes up to low are older; high's are not, or it is the end
        row = connection.execute(probe, [*params, high]).fetchone()
        if row is None or row[0] < (query.since_ms or 0):
            return FeedPosition(high)  # every change kept is older: start after them
        for _ in range(_SEARCH_STEPS):
            if high - low <= 1:
                break
            middle = (low + high) // 2
            row = connection.execute(probe, [*params, middle]).fetchone()
            if row is not None and row[0] >= (query.since_ms or 0):
                high = middle
            else:
                low = middle
        return FeedPosition(low)

    # Waiting ---------------------------------------------------------------------------

    def watch_changes(
        self, customer_id: int, kind: Kind, loop: asyncio.AbstractEventLoop | None = None
    ) -> ChangeWatch:
        self._listen()
        return self.signal.watch(customer_id, kind.table, loop)

    @abstractmethod
    def _listen(self) -> None:
        """Start hearing commits (once per store): until then nothing waits for them."""

    # Retention -------------------------------------------------------------------------

    def prune_changes(self, customer_id: int, kind: Kind, before_ms: int, limit: int) -> int:
        table = change_table(kind)
        key = ", ".join(quote(c) for c in [*kind.scope.columns, "doc_id"])
        with self._writing() as connection:
            pruned = connection.execute(
                self._sql(
                    f"DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} "
                    "WHERE customer_id = ? AND deleted AND changed_at_ms < ? "
                    "ORDER BY changed_at_ms LIMIT ?) AND deleted "
                    "RETURNING seq, doc_id, changed_at_ms"
                ),
                [customer_id, before_ms, limit],
            ).fetchall()
            if pruned:
                seq, doc_id = max((row[0], _text(row[1])) for row in pruned)
                changed_at = max(row[2] for row in pruned)
                connection.execute(
                    self._sql(_RAISE_HORIZON),
                    [customer_id, kind.table, seq, doc_id, changed_at],
                )
        return len(pruned)


_RAISE_HORIZON = (
    "INSERT INTO change_horizons (customer_id, kind, seq, doc_id, changed_at_ms) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id, kind) DO UPDATE SET "
    "seq = CASE WHEN (excluded.seq, excluded.doc_id) > (change_horizons.seq, "
    "change_horizons.doc_id) THEN excluded.seq ELSE change_horizons.seq END, "
    "doc_id = CASE WHEN (excluded.seq, excluded.doc_id) > (change_horizons.seq, "
    "change_horizons.doc_id) THEN excluded.doc_id ELSE change_horizons.doc_id END, "
    "changed_at_ms = CASE WHEN excluded.changed_at_ms > change_horizons.changed_at_ms "
    "THEN excluded.changed_at_ms ELSE change_horizons.changed_at_ms END"
)
"""Move a customer's kind's horizon past the tombstones just pruned (never back)."""


def _columns(kind: Kind) -> list[str]:
    return [
        *kind.scope.columns,
        "doc_id",
        "seq",
        "changed_at_ms",
        "deleted",
        "time_ms",
        "max_time_ms",
    ]


def upsert_changes(kind: Kind, values_sql: str) -> str:
    """INSERT of change rows that moves an existing row to the new position; a null time
    (a tombstone, a redaction) keeps the record's time as it was. ``values_sql`` gives the
    time twice: as the record's time and as its latest time so far."""
    table = change_table(kind)
    conflict = ", ".join(quote(c) for c in [*kind.scope.columns, "doc_id"])
    return (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in _columns(kind))}) "
        f"{values_sql} ON CONFLICT ({conflict}) DO UPDATE SET seq = excluded.seq, "
        "changed_at_ms = excluded.changed_at_ms, deleted = excluded.deleted, "
        f"time_ms = coalesce(excluded.time_ms, {table}.time_ms), "
        f"max_time_ms = CASE WHEN excluded.time_ms > coalesce({table}.max_time_ms, -1) "
        f"THEN excluded.time_ms ELSE {table}.max_time_ms END"
    )


def _scope(
    customer_id: int, dialer_id: int | None, alias: str, unseen: bool = False
) -> tuple[str, list[Any]]:
    """The condition on the scope's ids; ``unseen``: each as a subquery's result, which
    PostgreSQL's planner cannot see, so it plans for a customer of average size rather than
    for what its statistics say of this one (``_page_sql`` says why)."""
    value = "(SELECT ?)" if unseen else "?"
    where, params = [f"{alias}customer_id = {value}"], [customer_id]
    if dialer_id is not None:
        where.append(f"{alias}dialer_id = {value}")
        params.append(dialer_id)
    return " AND ".join(where), params


def _page_sql(
    query: ChangeQuery, dialer_id: int | None, start: FeedPosition, dialect: Any
) -> tuple[str, list[Any]]:
    """The changes past ``start`` (size + 1 of them, to tell whether any is left), each
    with its document when it exists and matches the filters.

    The customer's id is hidden from PostgreSQL's planner (``_scope``'s ``unseen``): for a
    customer its statistics did not know yet (rows sent through the HTTP batches or a
    broker, which end in no ANALYZE), it expected a row or so on both sides and read every
    row of the customer for each change row, 17 s for one page of a customer with 25,000
    CDRs, past the statement timeout (the history's entry:
    docs/benchmarks-history.md#2026-12-07-a-new-customers-import-slowed-batch-after-batch-issue-17).
    SQLite plans the same either way."""
    listing = query.listing
    kind = listing.kind
    scope, params = _scope(listing.customer_id, dialer_id, "c.", unseen=True)
    matches, match_params = filter_conditions(listing, "d.")
    # The change row knows its record's time: on a table partitioned by time, the one
    # partition to look in.
    join = " AND ".join(f"d.{c} = c.{c}" for c in [*kind.scope.columns, "doc_id", "time_ms"])
    past_params: list[Any] = [start.seq]
    if start.doc_id is None:
        past = "c.seq > ?"
    else:
        past = "(c.seq, c.doc_id) > (?, ?)"
        past_params.append(start.doc_id)
    document = dialect.document.replace("doc", "d.doc")
    sql = (
        f"SELECT c.seq, c.doc_id, c.changed_at_ms, CASE WHEN "
        f"{' AND '.join(['d.doc_id IS NOT NULL', *matches])} THEN {document} END "
        f"FROM {change_table(kind)} c LEFT JOIN {quote(kind.table)} d ON {join} "
        f"WHERE {scope} AND {past} ORDER BY c.seq, c.doc_id LIMIT ?"
    )
    return sql, [*match_params, *params, *past_params, listing.size + 1]


def _text(value: str | bytes) -> str:
    """An id as text (PostgreSQL's binary rows give its bytes)."""
    return value.decode() if isinstance(value, bytes) else value


__all__ = ["NOTIFY_CHANNEL", "FeedStore", "Key", "change_table", "upsert_changes"]
