"""Streams of records into the store, in transactions of bounded size."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import tzinfo

from atende_logs.ingest.documents import RecordError, to_row
from atende_logs.ingest.readers import Record
from atende_logs.kinds import Kind
from atende_logs.models import IngestResult, Row
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
    result = IngestResult()
    pending: dict[str, Row] = {}
    for record in records:
        if record.value is None:
            result.reject(record.position, record.error or "registro ilegível")
            continue
        try:
            row = to_row(kind, record.value, zone, dialer_id, record.text)
        except RecordError as exc:
            result.reject(record.position, str(exc))
            continue
        if pending.pop(row.doc_id, None) is not None:
            result.replaced += 1
        pending[row.doc_id] = row
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
