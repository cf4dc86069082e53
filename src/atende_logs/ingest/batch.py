"""Streams of records into the store, in transactions of bounded size."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import tzinfo

from atende_logs.ingest.documents import RecordError, to_row
from atende_logs.ingest.readers import Record
from atende_logs.kinds import Kind
from atende_logs.models import IngestResult, Rejection, Row
from atende_logs.storage.base import Store


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
    return store_prepared(
        store,
        customer_id,
        kind,
        prepare(kind, records, zone, dialer_id),
        dialer_id=dialer_id,
        batch_size=batch_size,
        on_batch=on_batch,
    )


def prepare(
    kind: Kind, records: Iterable[Record], zone: tzinfo, dialer_id: int | None = None
) -> Iterator[Row | Rejection]:
    """Each record as a storable row, or as the reason it cannot be stored, in order."""
    for record in records:
        if record.value is None:
            yield Rejection(record.position, record.error or "registro ilegível")
            continue
        try:
            yield to_row(kind, record.value, zone, dialer_id, record.text)
        except RecordError as exc:
            yield Rejection(record.position, str(exc))


def store_prepared(
    store: Store,
    customer_id: int,
    kind: Kind,
    items: Iterable[Row | Rejection],
    *,
    dialer_id: int | None = None,
    batch_size: int = 1000,
    on_batch: Callable[[IngestResult], None] | None = None,
) -> IngestResult:
    """``ingest`` from rows already prepared (by ``prepare``, here or in another process)."""
    result = IngestResult()
    pending: dict[str, Row] = {}
    for item in items:
        if isinstance(item, Rejection):
            result.reject(item.position, item.reason)
            continue
        if pending.pop(item.doc_id, None) is not None:
            result.replaced += 1
        pending[item.doc_id] = item
        if len(pending) >= batch_size:
            _flush(store, customer_id, kind, dialer_id, pending, result, on_batch)
    _flush(store, customer_id, kind, dialer_id, pending, result, on_batch)
    return result


def _flush(
    store: Store,
    customer_id: int,
    kind: Kind,
    dialer_id: int | None,
    pending: dict[str, Row],
    result: IngestResult,
    on_batch: Callable[[IngestResult], None] | None,
) -> None:
    if pending:
        inserted, replaced = store.write_rows(customer_id, kind, list(pending.values()), dialer_id)
        result.stored += inserted
        result.replaced += replaced
        pending.clear()
    if on_batch is not None:
        on_batch(result)
