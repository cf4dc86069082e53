"""Plain data passed between the layers. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from atende_logs.kinds import FilterSpec, Kind


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: strictly after ``time_ms``, or after (``time_ms``, ``doc_id``)."""

    time_ms: int
    doc_id: str | None = None


@dataclass(frozen=True)
class ItemRef:
    """An ``after`` naming the last item a client received; the store finds where it sorts.

    Either ``doc_id``, the item's own id (``id``, ``callid``), or, for a card stored without
    an id, the ``number`` and ``time_ms`` its id was derived from at ingest.
    """

    doc_id: str | None = None
    number: str | None = None
    time_ms: int | None = None


@dataclass(frozen=True)
class Condition:
    """One filter of a search: ``spec.column spec.op value``, value already normalised."""

    spec: FilterSpec
    value: Any


@dataclass(frozen=True)
class SearchQuery:
    """One page request, validated. The customer scope is part of the query."""

    kind: Kind
    customer_id: int
    size: int
    start_ms: int | None = None
    end_ms: int | None = None
    after: Cursor | None = None
    after_item: ItemRef | None = None
    """Set instead of ``after`` when the client named an item; the store resolves it."""
    conditions: tuple[Condition, ...] = ()
    dialer_token: str | None = None


@dataclass(frozen=True)
class StatsQuery:
    """Counts of a listing's records per bar of time, perhaps split by a field (issue 20)."""

    listing: SearchQuery
    """The records counted: a listing with both time bounds (its page fields unused)."""
    bounds: tuple[int, ...]
    """Where each bar starts, epoch ms, then where the last one ends (exclusive)."""
    quantum_ms: int
    """A length every bound is a multiple of: the store counts per ``time_ms // quantum_ms``,
    and each of those groups lies within one bar."""
    interval: str = "day"
    """``hour`` or ``day``: what the bounds were laid by."""
    split: FilterSpec | None = None


StatsRow = tuple[int, "str | None", int]
"""(``time_ms // quantum_ms``, the split field's value or None, records) from the store."""


@dataclass(frozen=True)
class Page:
    """A page of stored documents, as JSON bytes ready to send."""

    total: int
    after: int | str | None
    items: list[bytes]


@dataclass(frozen=True)
class Chunk:
    """Consecutive documents of a listing, in order, and the position of the last one."""

    items: list[bytes]
    last: Cursor | None
    """(time_ms, doc_id) of the last item; None when there are no items."""


class Row(NamedTuple):
    """A document ready to store: its id, time, JSON text (UTF-8) and filter column values.

    A tuple: an import makes one per document, and a dataclass costs more to make
    (docs/benchmarks-history.md, "Figures from code comments")."""

    doc_id: str
    time_ms: int
    doc: bytes
    values: tuple[Any, ...]


@dataclass(frozen=True)
class EncodedRows:
    """Rows of distinct ids in the form one store writes them in (``Store.encode_rows``).

    Built where the rows are parsed, which for an import is another process: PostgreSQL's
    are the bytes of a binary COPY, passed through to the server as they are; SQLite's are
    the parameter tuples of its INSERT.
    """

    payload: Any
    count: int
    span: tuple[int, int] | None = None
    """The earliest and latest ``time_ms`` of the rows: which time partitions they need."""


@dataclass(frozen=True)
class Rejection:
    """A record that was not stored, with where it was and why (in Portuguese)."""

    position: int
    reason: str


MAX_LISTED_REJECTIONS = 1000
"""Rejections listed one by one; past this only the count grows, so memory stays bounded."""


@dataclass
class IngestResult:
    """What an ingest did: new documents, replaced ones, and rejected records."""

    stored: int = 0
    replaced: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    span: tuple[int, int] | None = None
    """The earliest and latest ``time_ms`` of the batches that stored new documents, where
    their rows said (``EncodedRows.span``): the time partitions whose statistics are stale."""

    def widen(self, span: tuple[int, int]) -> None:
        """Count ``span`` in ``self.span``."""
        low, high = span if self.span is None else self.span
        self.span = (min(low, span[0]), max(high, span[1]))

    def reject(self, position: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_LISTED_REJECTIONS:
            self.rejections.append(Rejection(position, reason))

    def as_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "replaced": self.replaced,
            "rejected": self.rejected,
            "rejections": [
                {"position": item.position, "reason": item.reason} for item in self.rejections
            ],
        }


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    created_at_ms: int


@dataclass(frozen=True)
class Dialer:
    id: int
    customer_id: int
    name: str
    token_prefix: str
    created_at_ms: int


@dataclass(frozen=True)
class KeyInfo:
    """A customer or ingest key as listed: never the secret, only its prefix."""

    id: int
    owner: int | str
    """The customer id for customer keys, the key's name for ingest keys."""
    prefix: str
    created_at_ms: int
    revoked_at_ms: int | None
    last_used_at_ms: int | None = None
    """When a request last used it, to about a minute (``storage._key_use``); None: never."""


@dataclass(frozen=True)
class IngestScope:
    """What an ingest key may write: which customers' logs, of which kinds (issue 21).

    None means every one, present and future; an empty set would mean none, and is never
    made (the CLI refuses to create a key without a choice).
    """

    customers: frozenset[int] | None = None
    """The customers whose logs it may write; None: every customer."""
    kinds: frozenset[str] | None = None
    """The kinds it may write (``attendant-logs``, ``cdrs``, ``cards``); None: every kind."""

    def allows(self, customer_id: int, kind_name: str) -> bool:
        """Whether a batch of ``kind_name`` for ``customer_id`` is inside the scope."""
        return (self.customers is None or customer_id in self.customers) and (
            self.kinds is None or kind_name in self.kinds
        )


UNRESTRICTED = IngestScope()
"""Every customer, every kind: what ingest keys made before scopes existed may write."""


@dataclass(frozen=True)
class IngestKey:
    """A live ingest key, authenticated: who it is (for the audit line) and its scope."""

    id: int
    scope: IngestScope


@dataclass(frozen=True)
class IngestKeyInfo(KeyInfo):
    """An ingest key as listed, with its scope."""

    scope: IngestScope = UNRESTRICTED


@dataclass(frozen=True)
class Erasure:
    """One erasure of a phone number, as audited: never the number, only its last digits."""

    id: int
    customer_id: int
    requested_by: str
    erased_at_ms: int
    phone_last_digits: str
    counts: dict[str, int]
    """Documents that held the number, by kind name (every kind, 0 when none did): each
    redacted or deleted as its kind's ``erasure`` says."""


@dataclass(frozen=True)
class FeedPosition:
    """Where a consumer of the change feed stands: past every change up to (``seq``,
    ``doc_id``) in the feed's order; ``doc_id`` None: past every change of ``seq``."""

    seq: int
    doc_id: str | None = None
    floor: tuple[int, str] | None = None
    """The history's horizon (``change_horizons``) when this consumer began from the start
    or from a time: the removals pruned up to it were never this consumer's to see, so only
    a horizon moved past both it and the position means a missed removal (410)."""
    lsn: int | None = None
    """Where the database's WAL stood when the page was read, with read replicas
    (``storage._replicas``): a replica that has not replayed that far does not serve the
    next page. None without replicas."""

    def key(self) -> tuple[int, bool, str]:
        """A sort key: None sorts after every id of its ``seq``."""
        return (self.seq, self.doc_id is None, self.doc_id or "")


FEED_START = FeedPosition(-1)
"""Before every change kept: where a consumer without ``since`` starts."""


@dataclass(frozen=True)
class ChangeQuery:
    """One request of the change feed, validated.

    ``listing`` carries the customer, the kind, the dialer token, the size and the filters
    of the list endpoint (its ``after`` unused); ``since`` is a position, or ``since_ms``
    the first millisecond of the changes wanted; both None: from the start.
    """

    listing: SearchQuery
    since: FeedPosition | None = None
    since_ms: int | None = None


@dataclass(frozen=True)
class Change:
    """One record's latest change, as the feed reads it: its document as the list endpoint
    returns it, or None when the record is gone (or no longer matches the filters); or a
    retention mark (``expired_before_ms``)."""

    doc_id: str
    position: FeedPosition
    changed_at_ms: int
    doc: bytes | None
    expired_before_ms: int | None = None
    """Set on a retention mark instead of a record's change (``doc_id`` empty, ``doc``
    None): every record of the customer's kind whose time is before it is gone, without a
    change of its own (docs/sync.md, "Retention")."""


@dataclass(frozen=True)
class ChangePage:
    """Changes in the feed's order, where the next page starts, and whether none was left."""

    changes: list[Change]
    position: FeedPosition
    end_of_stream: bool
