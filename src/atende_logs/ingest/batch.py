"""Streams of records into the store, in transactions of bounded size.

Three steps, each a generator over the one before: ``prepare`` turns records into rows or
rejections, ``batched`` groups rows into batches of distinct ids in the store's own form,
``store_batches`` writes them. ``ingest.pipeline`` runs the first two here or in parsing
processes (``ingest.parallel``); ``ingest`` runs them all here, over records already read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import TYPE_CHECKING

from atende_logs.ingest.documents import RecordError, to_row
from atende_logs.ingest.readers import Record
from atende_logs.kinds import Kind
from atende_logs.models import EncodedRows, IngestResult, Rejection, Row

if TYPE_CHECKING:
    from atende_logs.storage.base import Store

Encoder = Callable[[Kind, Sequence[Row]], EncodedRows]
"""A store's ``encode_rows``."""


@dataclass(frozen=True)
class Batch:
    """Rows to write in one transaction, ids distinct, in the store's form."""

    rows: EncodedRows
    replaced: int
    """Documents left out because a later one of the batch has the same id: each counts as
    replaced, as it would have been in a batch of its own."""


def ingest(
    store: Store,
    customer_id: int,
    kind: Kind,
    records: Iterable[Record],
    *,
    zone: tzinfo,
    dialer_id: int | None = None,
    batch_size: int = 1000,
    on_batch: Callable[[IngestResult], None] | None = None,
) -> IngestResult:
    """Store every valid record of ``records``; reject the others with their reasons.

    Each batch of ``batch_size`` records is written in one transaction. Within a batch the
    last document of an id wins (counted as replacing the earlier one), as it would across
    batches. ``on_batch`` is called after each write, for progress reporting.
    """
    items = batched(kind, prepare(kind, records, zone, dialer_id), batch_size, store.encode_rows)
    return store_batches(store, customer_id, kind, items, dialer_id=dialer_id, on_batch=on_batch)


def prepare(
    kind: Kind, records: Iterable[Record], zone: tzinfo, dialer_id: int | None = None
) -> Iterator[Row | Rejection]:
    """Each record as a storable row, or as the reason it cannot be stored, in order."""
    for record in records:
        if record.value is None:
            yield Rejection(record.position, record.error or "registro ilegível")
            continue
        try:
            yield to_row(kind, record.value, zone, dialer_id, record.raw)
        except RecordError as exc:
            yield Rejection(record.position, str(exc))


def batched(
    kind: Kind, items: Iterable[Row | Rejection], batch_size: int, encode: Encoder
) -> Iterator[Batch | Rejection]:
    """Rows in batches of ``batch_size`` distinct ids, encoded; rejections as they come."""
    pending: dict[str, Row] = {}
    replaced = 0
    for item in items:
        if isinstance(item, Rejection):
            yield item
            continue
        if pending.pop(item.doc_id, None) is not None:
            replaced += 1
        pending[item.doc_id] = item
        if len(pending) >= batch_size:
            yield Batch(encode(kind, list(pending.values())), replaced)
            pending.clear()
            replaced = 0
    if pending:
        yield Batch(encode(kind, list(pending.values())), replaced)


def store_batches(
    store: Store,
    customer_id: int,
    kind: Kind,
    items: Iterable[Batch | Rejection],
    *,
    dialer_id: int | None = None,
    on_batch: Callable[[IngestResult], None] | None = None,
) -> IngestResult:
    """Write each batch in a transaction of its own, and count what was done."""
    result = IngestResult()
    for item in items:
        if isinstance(item, Rejection):
            result.reject(item.position, item.reason)
            continue
        inserted, replaced = store.write_rows(customer_id, kind, item.rows, dialer_id)
        if inserted and item.rows.span is not None:
            result.widen(item.rows.span)
        result.stored += inserted
        result.replaced += replaced + item.replaced
        if on_batch is not None:
            on_batch(result)
    return result
