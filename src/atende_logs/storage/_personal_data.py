"""The SQL of retention and erasure (LGPD, issue 5), shared by both backends.

Kept out of ``_common.py`` so that module stays about searching and writing logs; both
backends inherit these operations through ``PersonalDataStore``. Nothing here differs between
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson

from atende_logs.errors import NotFoundError
from atende_logs.kinds import KINDS, Doc, Kind
from atende_logs.models import Erasure
from atende_logs.redaction import SEPARATORS, audit_hint, erasure_key, redact
from atende_logs.storage._changes import FeedStore, change_table
from atende_logs.storage._common import now_ms, quote
from atende_logs.storage._hourly import HOUR_MS

_ERASURE_COLUMNS = "id, customer_id, requested_by, erased_at_ms, phone_last_digits"
_LEGACY_COUNTS = {"attendant-logs": "attendant_logs", "cdrs": "cdrs", "cards": "cards"}
"""Kind -> the column of ``erasures`` that held its count before migration 0012, which
moved the counts to ``erasure_counts``. Still written and, for an erasure without rows in
``erasure_counts`` (an older release's, during a rolling deploy), read: the release after
drops the columns and this (docs/cli.md, migrations are additive)."""
SCAN_CHUNK = 20_000
"""Documents one read of an erasure's search looks at: well within the statement timeout,
and only their keys come back; smaller chunks made the search slower
(docs/benchmarks-history.md, "Figures from code comments")."""
Key = tuple[Any, ...]
"""A stored document's primary key: (customer_id, [dialer_id,] doc_id)."""


def _without_separators(column: str) -> str:
    """SQL for ``column`` with every phone separator removed (replace() exists in both)."""
    for char in SEPARATORS:
        column = f"replace({column}, '{char}', '')"
    return column


class PersonalDataStore(FeedStore):
    """``FeedStore`` plus retention and erasure."""

    # Retention -------------------------------------------------------------------------

    def set_retention(self, customer_id: int, days: int | None) -> None:
        if self.get_customer(customer_id) is None:
            raise NotFoundError(f"cliente {customer_id} não existe")
        with self._writing() as connection:
            connection.execute(
                self._sql("DELETE FROM retention_policies WHERE customer_id = ?"), [customer_id]
            )
            if days is not None:
                connection.execute(
                    self._sql("INSERT INTO retention_policies (customer_id, days) VALUES (?, ?)"),
                    [customer_id, days],
                )

    def retention_days(self) -> dict[int, int]:
        rows = self._all("SELECT customer_id, days FROM retention_policies")
        return {int(customer_id): int(days) for customer_id, days in rows}

    def count_before(self, customer_id: int, kind: Kind, before_ms: int) -> int:
        # Whole hours from the hourly counts, the last partial hour row by row: a dry run
        # over years of a large customer stays within the statement timeout.
        hour = before_ms // HOUR_MS * HOUR_MS
        rows = self._all(
            "SELECT (SELECT CAST(coalesce(sum(row_count), 0) AS BIGINT) FROM hourly_counts "
            "WHERE customer_id = ? AND kind = ? AND hour_ms < ?) + (SELECT count(*) FROM "
            f"{quote(kind.table)} WHERE customer_id = ? AND time_ms >= ? AND time_ms < ?)",
            [customer_id, kind.table, hour, customer_id, hour, before_ms],
        )
        return int(rows[0][0])

    def delete_before(self, customer_id: int, kind: Kind, before_ms: int, limit: int) -> int:
        table = quote(kind.table)
        within = kind.scope.columns[1:]  # the scope below the customer (a dialer)
        key = ", ".join(quote(c) for c in [*within, "doc_id"])
        # Oldest first, in the time index's order: an interrupted purge leaves no gaps.
        order = ", ".join(quote(c) for c in [*within, "time_ms"])
        with self._writing() as connection:
            self._lock_writers(connection, kind, customer_id)
            gone = connection.execute(
                self._sql(
                    f"DELETE FROM {table} WHERE customer_id = ? AND ({key}, time_ms) IN "
                    f"(SELECT {key}, time_ms FROM {table} WHERE customer_id = ? AND time_ms < ? "
                    f"ORDER BY {order} LIMIT ?) RETURNING {key}, time_ms"
                ),
                [customer_id, customer_id, before_ms, limit],
            ).fetchall()
            if gone:
                self._expire(connection, kind, customer_id, before_ms, [tuple(r) for r in gone])
        return len(gone)

    def _expire(
        self,
        connection: Any,
        kind: Kind,
        customer_id: int,
        cut_ms: int,
        gone: list[tuple[Any, ...]] | None,
    ) -> None:
        """Tell the change feed that retention removed the customer's records before
        ``cut_ms``: ``gone`` (key below the customer, then time) or, None, whole partitions.

        One mark says "every record before T is gone" (docs/sync.md, "Retention"), with T
        the cut or, when older records are left (the rest of a purge in batches), the
        oldest of them. A removed record that a consumer may hold at T or later (a tie at
        T, another dialer's older record left, a record whose time moved back before it
        went) gets a tombstone of its own; the change rows of those the mark covers are
        forgotten. In the removal's transaction, after the rows went."""
        # The counts' triggers follow a delete; drop the hours it emptied.
        for counts in (
            ("hourly_counts", "split_counts") if self.dialect.split_counts else ("hourly_counts",)
        ):
            connection.execute(
                self._sql(
                    f"DELETE FROM {counts} WHERE customer_id = ? AND kind = ? "
                    "AND hour_ms < ? AND row_count = 0"
                ),
                [customer_id, kind.table, cut_ms],
            )
        (oldest,) = self._one(
            connection,
            f"SELECT min(time_ms) FROM {quote(kind.table)} WHERE customer_id = ? AND time_ms < ?",
            [customer_id, cut_ms],
        )
        before = cut_ms if oldest is None else int(oldest)
        seq, changed_at_ms = self._next_seq(connection, customer_id, kind)
        rows = gone or []
        latest = self._latest_times(connection, kind, customer_id, [r[:-1] for r in rows])
        # Covered: every state a consumer may hold of it is older than the mark.
        covered: list[tuple[Any, ...]] = []
        tied: list[tuple[Any, ...]] = []
        for *key, time_ms in rows:
            reach = max(time_ms, latest.get(tuple(key), 0))
            (covered if reach < before else tied).append(tuple(key))
        if tied:
            self._write_changes(connection, kind, customer_id, tied, seq, changed_at_ms, True)
        if covered:
            self._forget_changes(connection, kind, customer_id, covered)
        if covered or gone is None:
            # A newer mark reaching as far or further says all an older one says.
            connection.execute(
                self._sql(
                    "DELETE FROM retention_marks WHERE customer_id = ? AND kind = ? "
                    "AND before_ms <= ?"
                ),
                [customer_id, kind.table, before],
            )
            connection.execute(
                self._sql(
                    "INSERT INTO retention_marks (customer_id, kind, seq, before_ms, "
                    "changed_at_ms) VALUES (?, ?, ?, ?, ?)"
                ),
                [customer_id, kind.table, seq, before, changed_at_ms],
            )
        self._noted(customer_id, kind)

    def forget_expired_changes(self, customer_id: int, kind: Kind) -> int:
        # The change rows of records the customer's latest mark covers, older than it: left
        # by whole partitions dropped. One statement, however many: a purge's job, without
        # the statement timeout (it reads the customer's change rows once).
        table = change_table(kind)
        with self._writing() as connection:
            self._no_timeout(connection)
            mark = self._one(
                connection,
                "SELECT seq, before_ms FROM retention_marks WHERE customer_id = ? AND kind = ? "
                "ORDER BY seq DESC LIMIT 1",
                [customer_id, kind.table],
            )
            if mark is None:
                return 0
            # A record whose time moved back before it went may be held by a consumer at its
            # later time: the mark does not cover it, so it stays, as a tombstone.
            connection.execute(
                self._sql(
                    f"UPDATE {table} SET deleted = true WHERE customer_id = ? AND seq < ? "
                    "AND time_ms < ? AND max_time_ms >= ? AND NOT deleted"
                ),
                [customer_id, mark[0], mark[1], mark[1]],
            )
            forgotten = connection.execute(
                self._sql(
                    f"DELETE FROM {table} WHERE customer_id = ? AND seq < ? AND time_ms < ? "
                    "AND coalesce(max_time_ms, time_ms) < ?"
                ),
                [customer_id, mark[0], mark[1], mark[1]],
            ).rowcount
        return int(forgotten)

    def _no_timeout(self, connection: Any) -> None:
        """Lift the statement timeout for the rest of this transaction (PostgreSQL)."""

    def _latest_times(
        self, connection: Any, kind: Kind, customer_id: int, keys: list[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], int]:
        """The latest time each record at ``keys`` (below the customer) ever had."""
        if not keys:
            return {}
        within = [quote(c) for c in kind.scope.columns[1:]]
        rows = connection.execute(
            self._sql(
                f"SELECT {', '.join([*within, 'doc_id', 'max_time_ms'])} "
                f"FROM {change_table(kind)} WHERE customer_id = ? "
                f"AND doc_id IN ({', '.join('?' for _ in keys)})"
            ),
            [customer_id, *(key[-1] for key in keys)],
        ).fetchall()
        return {tuple(row[:-1]): int(row[-1]) for row in rows if row[-1] is not None}

    def _forget_changes(
        self, connection: Any, kind: Kind, customer_id: int, keys: list[tuple[Any, ...]]
    ) -> None:
        """Delete the change rows of records at ``keys`` (below the customer) that a
        retention mark covers: the mark tells their removal."""
        where = " AND ".join(f"{quote(c)} = ?" for c in [*kind.scope.columns, "doc_id"])
        connection.cursor().executemany(
            self._sql(f"DELETE FROM {change_table(kind)} WHERE {where}"),
            [(customer_id, *key) for key in keys],
        )

    def _lock_writers(self, connection: Any, kind: Kind, customer_id: int) -> None:
        """Keep the customer's other writers of ``kind`` out until this transaction ends,
        where the database lets two of them race (PostgreSQL); SQLite has one writer."""

    # Erasure ---------------------------------------------------------------------------

    def erase_phone(self, customer_id: int, phone: str, requested_by: str) -> Erasure:
        if self.get_customer(customer_id) is None:
            raise NotFoundError(f"cliente {customer_id} não existe")
        key = erasure_key(phone)
        # Candidates are found in a read transaction: on SQLite a scan of the customer's
        # documents under the write lock would stall ingestion for its whole duration.
        candidates = {kind: self._holding(customer_id, kind, key) for kind in KINDS.values()}
        erased_at = now_ms()
        with self._writing() as connection:
            changed = {
                kind: self._erase_in(connection, kind, keys, key)
                for kind, keys in candidates.items()
            }
            counts = {kind.name: len(keys) for kind, keys in changed.items()}
            erasure = Erasure(0, customer_id, requested_by, erased_at, audit_hint(key), counts)
            erasure = replace(erasure, id=self._audit(connection, erasure))
        touched = [kind.table for kind, keys in changed.items() if keys]
        if touched:
            self._scrub(touched)
        return erasure

    def _audit(self, connection: Any, erasure: Erasure) -> int:
        """Write ``erasure``'s audit row and its counts; its id."""
        values = {
            "customer_id": erasure.customer_id,
            "requested_by": erasure.requested_by,
            "erased_at_ms": erasure.erased_at_ms,
            "phone_last_digits": erasure.phone_last_digits,
            **{column: erasure.counts.get(kind, 0) for kind, column in _LEGACY_COUNTS.items()},
        }
        (erasure_id,) = self._one(
            connection,
            f"INSERT INTO erasures ({', '.join(values)}) "
            f"VALUES ({', '.join('?' for _ in values)}) RETURNING id",
            list(values.values()),
        )
        for kind, count in erasure.counts.items():
            connection.execute(
                self._sql(
                    "INSERT INTO erasure_counts (erasure_id, kind, documents) VALUES (?, ?, ?)"
                ),
                [erasure_id, kind, count],
            )
        return int(erasure_id)

    def _scrub(self, tables: list[str]) -> None:
        """After an erasure committed: take what is left of the old rows of ``tables`` out of
        the database's files, as far as the backend can (docs/lgpd.md says how far)."""
        raise NotImplementedError

    def list_erasures(self, customer_id: int) -> list[Erasure]:
        legacy = ", ".join(_LEGACY_COUNTS.values())
        rows = self._all(
            f"SELECT {_ERASURE_COLUMNS}, {legacy} FROM erasures WHERE customer_id = ? ORDER BY id",
            [customer_id],
        )
        counts: dict[int, dict[str, int]] = {}
        for erasure_id, kind, documents in self._all(
            "SELECT c.erasure_id, c.kind, c.documents FROM erasure_counts c "
            "JOIN erasures e ON e.id = c.erasure_id WHERE e.customer_id = ?",
            [customer_id],
        ):
            counts.setdefault(erasure_id, {})[kind] = documents
        erasures = []
        for erasure_id, customer, by, at, digits, *old in rows:
            by_kind = counts.get(erasure_id) or dict(zip(_LEGACY_COUNTS, old, strict=True))
            # Every kind, in the order of KINDS, then any kind no longer known.
            ordered = {name: by_kind.pop(name, 0) for name in KINDS} | by_kind
            erasures.append(Erasure(erasure_id, customer, by, at, digits, ordered))
        return erasures

    def _holding(self, customer_id: int, kind: Kind, key: str) -> list[Key]:
        """Keys of the customer's documents whose text may hold the number: its digits,
        once separators are dropped. A superset; ``redact`` decides on each.

        Read in primary-key order, a chunk per short read: each chunk stays within the
        statement timeout however many documents the customer has.
        """
        within = kind.scope.columns[1:]  # the scope below the customer (a dialer)
        key_columns = ", ".join(quote(c) for c in [*within, "doc_id"])
        last: tuple[Any, ...] = (*(0 for _ in within), "")  # before every key (ids start at 1)
        sql = (
            f"SELECT {key_columns}, {_without_separators('doc')} LIKE ? "
            f"FROM {quote(kind.table)} WHERE customer_id = ? "
            f"AND ({key_columns}) > ({', '.join('?' for _ in last)}) "
            f"ORDER BY {key_columns} LIMIT ?"
        )
        found: list[Key] = []
        while True:
            rows = self._all(sql, [f"%{key}%", customer_id, *last, SCAN_CHUNK])
            found += [(customer_id, *row[:-1]) for row in rows if row[-1]]
            if len(rows) < SCAN_CHUNK:
                return found
            last = tuple(rows[-1][:-1])

    def _erase_in(self, connection: Any, kind: Kind, keys: list[Key], key: str) -> list[Key]:
        """Take the number out of the documents at ``keys``, redacting or deleting each as
        ``kind.erasure`` says, and give each a new position in the change feed. Returns the
        keys of the documents that changed."""
        table, where = quote(kind.table), _key_condition(kind)
        changed: list[Key] = []
        for primary_key, doc in self._current_docs(connection, kind, keys):
            if not redact(doc, key, keep=(kind.time_field, kind.id_field)):
                continue
            changed.append(primary_key)
            if kind.erasure == "delete":
                connection.execute(self._sql(f"DELETE FROM {table} WHERE {where}"), primary_key)
                continue
            columns = ", ".join(f"{quote(c)} = ?" for c in ["doc", *kind.columns])
            connection.execute(
                self._sql(f"UPDATE {table} SET {columns} WHERE {where}"),
                [orjson.dumps(doc).decode(), *kind.stored_values(doc), *primary_key],
            )
        self._record_changes(
            connection,
            kind,
            int(changed[0][0]) if changed else 0,
            [primary_key[1:] for primary_key in changed],
            deleted=kind.erasure == "delete",
        )
        return changed

    def _current_docs(
        self, connection: Any, kind: Kind, keys: list[Key]
    ) -> Iterator[tuple[Key, Doc]]:
        """Each document at ``keys`` as it is now, in the write transaction (ingest may have
        replaced it since the candidates were read)."""
        sql = f"SELECT doc FROM {quote(kind.table)} WHERE {_key_condition(kind)}"
        for primary_key in keys:
            row = self._one(connection, sql, primary_key)
            if row is not None:
                yield primary_key, orjson.loads(row[0])


def _key_condition(kind: Kind) -> str:
    return " AND ".join(f"{quote(c)} = ?" for c in [*kind.scope.columns, "doc_id"])
