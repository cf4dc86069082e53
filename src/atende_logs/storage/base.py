"""The ``Store`` protocol: everything the HTTP layer, the CLI and ingestion ask of a database.

Two implementations exist, ``SQLiteStore`` and ``PostgresStore``; only ``factory.py`` knows
which one is in use. Every method that touches a customer's data takes the customer id
first, so tenant scoping is part of each call, never an afterthought.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from atende_logs.kinds import Kind
from atende_logs.models import (
    UNRESTRICTED,
    ChangePage,
    ChangeQuery,
    Chunk,
    Customer,
    Dialer,
    EncodedRows,
    Erasure,
    IngestKey,
    IngestKeyInfo,
    IngestScope,
    KeyInfo,
    Page,
    Row,
    SearchQuery,
    StatsQuery,
    StatsRow,
)
from atende_logs.storage._signal import ChangeWatch
from atende_logs.storage.partitions import Partition


@dataclass(frozen=True)
class PoolStats:
    """A moment of a connection pool, as psycopg_pool's ``get_stats`` counts it."""

    size: int
    """Connections open, idle or lent out."""
    available: int
    """Open connections idle in the pool."""
    max_size: int
    """Connections the pool may open at most (``ATENDE_POOL_SIZE``)."""
    waiting: int
    """Requests queued for a connection."""
    unreachable: bool = False
    """The database is known gone: requests are refused at once (``storage._breaker``)."""

    @property
    def in_use(self) -> int:
        """Connections lent out now."""
        return self.size - self.available


class Store(Protocol):
    """A database holding customers, their credentials and their logs."""

    backend: str
    """"sqlite" or "postgresql"."""

    # Customers and credentials. Methods returning a secret return it this once only.
    def create_customer(self, name: str) -> Customer: ...
    def get_customer(self, customer_id: int) -> Customer | None: ...
    def list_customers(self) -> list[Customer]: ...
    def create_api_key(self, customer_id: int) -> tuple[KeyInfo, str]: ...
    def list_api_keys(self, customer_id: int) -> list[KeyInfo]: ...
    def revoke_api_key(self, key_id: int) -> bool: ...
    def authenticate(self, secret: str) -> int | None:
        """The customer id a live API key belongs to, else None."""
        ...

    def create_ingest_key(
        self, name: str, scope: IngestScope = UNRESTRICTED
    ) -> tuple[IngestKeyInfo, str]:
        """A new ingest key that may write what ``scope`` allows (by default every
        customer's logs of every kind, what keys could do before scopes existed; the CLI
        makes its caller choose).

        Raises NotFoundError for a customer of the scope that does not exist, ValueError
        for a scope of no customer, or of no or unknown kinds.
        """
        ...

    def list_ingest_keys(self) -> list[IngestKeyInfo]: ...
    def revoke_ingest_key(self, key_id: int) -> bool: ...
    def authenticate_ingest(self, secret: str) -> IngestKey | None:
        """The live ingest key ``secret`` is, with its scope, else None."""
        ...

    def key_use_pending(self) -> bool:
        """Whether ``record_key_use`` has anything to write (no I/O: call it anywhere)."""
        ...

    def record_key_use(self) -> None:
        """Write the key uses ``authenticate*`` noted (each key at most once a minute per
        process, ``storage._key_use``); a no-op without database work when none is due."""
        ...

    def create_dialer(self, customer_id: int, name: str) -> tuple[Dialer, str]: ...
    def list_dialers(self, customer_id: int) -> list[Dialer]: ...
    def rotate_dialer_token(self, customer_id: int, dialer_id: int) -> str: ...
    def find_dialer(self, customer_id: int, token: str) -> Dialer | None: ...
    def get_dialer(self, customer_id: int, dialer_id: int) -> Dialer | None: ...

    def session(self) -> AbstractContextManager[None]:
        """A block in which this thread's calls share one database connection: a request's
        key check and its query cost one pool checkout, not one each (PostgreSQL). Each
        call keeps its own transaction. Nested blocks share the outer one's connection;
        a no-op where each thread has its own connection already (SQLite).
        """
        ...

    # Logs.
    @property
    def encode_rows(self) -> Callable[[Kind, Sequence[Row]], EncodedRows]:
        """A function giving ``rows`` (distinct doc ids) in the form ``write_rows`` takes.

        A module-level function, which pickles by name: an import calls it in its parsing
        processes and sends the writer the result.
        """
        ...

    def write_rows(
        self,
        customer_id: int,
        kind: Kind,
        rows: EncodedRows,
        dialer_id: int | None = None,
        *,
        newer_only: bool = False,
    ) -> tuple[int, int]:
        """Insert or replace ``rows`` (from ``encode_rows``) in one transaction.

        ``newer_only``: a stored document is never replaced by one of an earlier time (a
        broker's redelivery of an older version, ``atende_logs.consume``).

        Returns (inserted, replaced).
        """
        ...

    def search(self, query: SearchQuery) -> Page:
        """One page of ``query``, with its total.

        Raises NotFoundError when a cards query names a dialer token the customer does not
        own, ParameterError (``after``) when its ``after_item`` names no item of the
        customer's, QueryTimeoutError when the query runs past the statement timeout.
        """
        ...

    def scan(self, query: SearchQuery, limit: int) -> Chunk:
        """Up to ``limit`` documents of ``query`` in order, after its cursor, without a total.

        One short read transaction, with the statement timeout of a page: an export reads
        its whole result this way, chunk after chunk, passing each chunk's ``last`` back as
        ``after``, so its memory never depends on the result's size.
        Raises what ``search`` raises.
        """
        ...

    def stats(self, query: StatsQuery) -> list[StatsRow]:
        """The records of ``query.listing`` counted per ``time_ms // query.quantum_ms`` (and
        per value of ``query.split``), in one statement; a group may come in several rows,
        whose counts add up (``query.stats.fold_bars`` makes the bars).

        Served from the hourly counts when the listing has no filter and no split is asked.
        Raises NotFoundError when a cards query names a dialer token the customer does not
        own, QueryTimeoutError when the query runs past the statement timeout.
        """
        ...

    def refresh_statistics(self, kind: Kind, span: tuple[int, int] | None = None) -> None:
        """Let the query planner learn the table's new contents after a large import:
        where the table is partitioned by time and ``span`` (the earliest and latest
        ``time_ms`` written) is given, those of the partitions it overlaps only."""
        ...

    # The change feed (docs/sync.md): what the changes route, a live tail and sync share.
    def changes_since(self, query: ChangeQuery) -> ChangePage:
        """Up to ``query.listing.size`` changes of the listing's records past the query's
        start, in commit order, each record's latest change once: its document as the
        listing returns it, or a delete when it is gone or no longer matches the filters.

        One read snapshot. Raises HistoryGoneError when ``since`` is older than the history
        kept (tombstones pruned after it), and what ``search`` raises.
        """
        ...

    def watch_changes(
        self, customer_id: int, kind: Kind, loop: asyncio.AbstractEventLoop | None = None
    ) -> ChangeWatch:
        """A watch fired when a change of the customer's ``kind`` commits (and, rarely, when
        notices may have been lost), waited on from ``loop`` (None: from a thread). Take it
        before reading the feed, wait on it only if the read found nothing; use it as a
        context manager. Costs the database nothing while idle."""
        ...

    def prune_changes(self, customer_id: int, kind: Kind, before_ms: int, limit: int) -> int:
        """Forget up to ``limit`` tombstones (changes of removed records) made before
        ``before_ms``, in one short transaction, moving the history's horizon past them:
        an older ``since`` then gets HistoryGoneError. Returns how many were forgotten;
        fewer than ``limit`` means none is left."""
        ...

    def forget_expired_changes(self, customer_id: int, kind: Kind) -> int:
        """Forget the change rows of records the customer's latest retention mark covers
        (docs/sync.md, "Retention"): those of whole partitions dropped. Returns how many."""
        ...

    # Time partitions (PostgreSQL; docs/partitions.md). SQLite has none: no-ops there.
    def maintain_partitions(self, now: int | None = None) -> list[str]:
        """Create the partitions the log tables lack: the current period's and those ahead
        (a write makes those of other periods itself). Their names."""
        ...

    def list_partitions(self, kind: Kind) -> list[Partition]:
        """``kind``'s partitions by start, the default last."""
        ...

    def drop_partitions_before(self, kind: Kind, before_ms: int) -> dict[int, int]:
        """Drop ``kind``'s partitions that end at or before ``before_ms``, whole, and mark
        the removal in each affected customer's change feed; the records each lost."""
        ...

    # LGPD: retention and erasure (docs/lgpd.md).
    def set_retention(self, customer_id: int, days: int | None) -> None:
        """Keep the customer's logs ``days`` days; None returns it to ATENDE_RETENTION_DAYS.

        Raises NotFoundError when the customer does not exist.
        """
        ...

    def retention_days(self) -> dict[int, int]:
        """Each customer's own retention in days; customers absent use the default."""
        ...

    def count_before(self, customer_id: int, kind: Kind, before_ms: int) -> int:
        """How many of the customer's documents of ``kind`` are older than ``before_ms``."""
        ...

    def delete_before(self, customer_id: int, kind: Kind, before_ms: int, limit: int) -> int:
        """Delete up to ``limit`` of those documents, oldest first, in one short transaction.

        Returns how many were deleted; fewer than ``limit`` means none is left. Totals stay
        exact: the hourly counts follow by trigger, and the data version is bumped.
        """
        ...

    def erase_phone(self, customer_id: int, phone: str, requested_by: str) -> Erasure:
        """Take one person's phone number (any spelling) out of the customer's logs.

        The documents holding it are redacted or deleted, as each kind's ``erasure`` says,
        and the audit row written, all in one transaction. Raises NotFoundError for an unknown
        customer, ParameterError (``phone``) when ``phone`` is not a phone number.
        """
        ...

    def list_erasures(self, customer_id: int) -> list[Erasure]:
        """The customer's audited erasures, oldest first."""
        ...

    # Operation: what /readyz and /metrics ask.
    def schema_revision(self) -> str | None:
        """The migration revision recorded in the database (Alembic's ``alembic_version``),
        None when no migration was ever applied. The history is linear: one revision.

        Raises StorageError (StoreUnavailableError, QueryTimeoutError) as reads do.
        """
        ...

    def pool_stats(self) -> PoolStats | None:
        """The connection pool's state now, None for a store without a pool (SQLite's
        connections are one per thread). No I/O: call it anywhere."""
        ...

    def close(self) -> None: ...
