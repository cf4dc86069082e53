"""One way in for logs: a byte stream or a file of one kind, stored for its owner (``run``).

``atende-logs import`` and the HTTP ingest routes are thin wrappers over ``run``, and so is
any other producer. It picks the format (given, or detected from the first bytes, then
read again from the start), parses in this process or, for a large NDJSON file, in worker
processes (``ingest.parallel``), writes through ``ingest.batch`` and, after an import of
many new documents, refreshes the table's planner statistics.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from atende_logs.errors import PayloadTooLargeError
from atende_logs.formats import Format
from atende_logs.ingest.batch import Batch, batched, prepare, store_batches
from atende_logs.ingest.parallel import batches_in_workers, default_workers
from atende_logs.ingest.readers import Record, detect_format, read_records
from atende_logs.kinds import Kind
from atende_logs.models import IngestResult, Rejection

if TYPE_CHECKING:
    from atende_logs.storage.base import Store

__all__ = ["ANALYZE_AFTER", "PARALLEL_FROM_BYTES", "OnBatch", "Owner", "run"]

PARALLEL_FROM_BYTES = 8 << 20
"""NDJSON files this large are parsed in worker processes unless told otherwise: below it,
starting them may cost more than they save (figures:
docs/benchmarks-history.md#2026-11-26-to-2026-11-27-every-design-choice-tried-kept-or-dropped)."""

ANALYZE_AFTER = 10_000
"""A run that stored this many new documents refreshes the table's planner statistics,
which do not know a new customer until then; replaced documents show it nothing new
(docs/benchmarks-history.md#2026-11-27-re-imports-unchanged-rows-left-as-they-are-300000-rows-per-kind)."""

_SNIFF_BYTES = 64 << 10
"""What is read to tell NDJSON from a JSON array, before starting from the beginning again."""

OnBatch = Callable[[IngestResult, int], None]
"""Called after each batch is written, with the counts so far and the bytes of input read
(0 when the stream cannot tell)."""


@dataclass(frozen=True)
class Owner:
    """Whose the documents are: a customer's and, for a kind kept per dialer
    (``Scope.DIALER``), one of its dialers'."""

    customer_id: int
    dialer_id: int | None = None


def run(
    store: Store,
    source: BinaryIO | Path,
    kind: Kind,
    owner: Owner,
    *,
    zone: tzinfo,
    fmt: Format | None = None,
    batch_size: int = 1000,
    parse_workers: int | None = None,
    on_batch: OnBatch | None = None,
    max_records: int | None = None,
    refresh_statistics: bool = True,
) -> IngestResult:
    """Store every valid record of ``source``, for ``owner``; count and reject the others.

    ``source`` is a file, opened and closed here, or a binary stream, read from where it
    is and never closed. ``fmt`` None (detect it) reads a file named ``*.csv`` as CSV,
    anything else as NDJSON or a JSON array by its first significant byte.

    Each batch of at most ``batch_size`` records is written in one transaction; within a
    batch the last document of an id wins. ``parse_workers`` processes parse NDJSON while
    this one writes (``0``: parse here); ``None`` chooses: for a file of NDJSON of
    ``PARALLEL_FROM_BYTES`` or more, ``parallel.default_workers()``, else none (a stream's
    size is not known). A worker's batches end with its block, so they may be smaller.

    ``max_records``: the record after that many raises ``PayloadTooLargeError``; the
    batches written before it stay written, so a caller that wants all or nothing passes a
    larger ``batch_size``. Parsing is then done here.

    ``refresh_statistics``: whether a run that stored ``ANALYZE_AFTER`` new documents or
    more then refreshes the planner statistics of the table, or of the time partitions its
    new documents went to (``Store.refresh_statistics``).

    Raises ``ValueError`` when ``owner`` names a dialer exactly when ``kind`` has none,
    or when ``max_records`` is asked of parsing processes.
    """
    if (owner.dialer_id is not None) != kind.scope.by_dialer:
        wanted = "a dialer" if kind.scope.by_dialer else "no dialer"
        raise ValueError(f"{kind.name} is owned by a customer and {wanted}: {owner}")
    if max_records is not None and parse_workers:
        raise ValueError("max_records is counted by parsing in this process (parse_workers=0)")
    if fmt is None and isinstance(source, Path) and Format.of_path(source) == Format.CSV:
        fmt = Format.CSV
    with _opened(source) as (stream, size):
        workers = 0 if max_records is not None else _workers(parse_workers, stream, size, fmt)
        items = _batches(store, stream, kind, owner, zone, fmt, batch_size, workers, max_records)
        progress = None if on_batch is None else _progress(on_batch, stream)
        result = store_batches(
            store, owner.customer_id, kind, items, dialer_id=owner.dialer_id, on_batch=progress
        )
    if refresh_statistics and result.stored >= ANALYZE_AFTER:
        store.refresh_statistics(kind, result.span)
    return result


@contextmanager
def _opened(source: BinaryIO | Path) -> Iterator[tuple[BinaryIO, int | None]]:
    """The stream to read, with its size when ``source`` is a file."""
    if not isinstance(source, Path):
        yield source, None
        return
    with source.open("rb") as stream:
        yield stream, os.fstat(stream.fileno()).st_size


def _batches(
    store: Store,
    stream: BinaryIO,
    kind: Kind,
    owner: Owner,
    zone: tzinfo,
    fmt: Format | None,
    batch_size: int,
    workers: int,
    max_records: int | None,
) -> Iterable[Batch | Rejection]:
    """The input's batches and rejections, in order, parsed here or by ``workers``."""
    if workers:
        return batches_in_workers(
            stream,
            kind,
            zone,
            owner.dialer_id,
            workers=workers,
            batch_size=batch_size,
            encode=store.encode_rows,
        )
    records = read_records(stream, fmt)
    if max_records is not None:
        records = _at_most(records, max_records)
    rows = prepare(kind, records, zone, owner.dialer_id)
    return batched(kind, rows, batch_size, store.encode_rows)


def _workers(asked: int | None, stream: BinaryIO, size: int | None, fmt: Format | None) -> int:
    """How many processes parse the input: none for CSV, JSON arrays and streams that cannot
    seek (their readers are sequential), nor, unless asked, for input too small to repay
    starting them."""
    if asked == 0 or fmt in (Format.CSV, Format.JSON) or not stream.seekable():
        return 0
    if fmt is None:
        start = stream.tell()
        head = stream.read(_SNIFF_BYTES)
        stream.seek(start)
        if not head.strip() or detect_format(head) != Format.NDJSON:
            return 0
    if asked is not None:
        return asked
    return default_workers() if (size or 0) >= PARALLEL_FROM_BYTES else 0


def _at_most(records: Iterator[Record], limit: int) -> Iterator[Record]:
    for count, record in enumerate(records, start=1):
        if count > limit:
            raise PayloadTooLargeError(f"o lote tem mais de {limit} registros")
        yield record


def _progress(on_batch: OnBatch, stream: BinaryIO) -> Callable[[IngestResult], None]:
    return lambda result: on_batch(result, _tell(stream))


def _tell(stream: BinaryIO) -> int:
    try:
        return stream.tell()
    except OSError:
        return 0
