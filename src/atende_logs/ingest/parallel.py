"""NDJSON parsed in worker processes while this process writes.

Turning lines into rows (JSON parsing, validation, filter keys) costs more CPU than writing
them. The workers do it, and encode each batch in the store's own form (for PostgreSQL, the
bytes of a binary COPY), so this process only passes bytes on to the database. A file's
blocks are read by the workers themselves, this process only finding where each one ends,
so that its lines never pass through here (a stream's are sent to them; figures:
docs/benchmarks-history.md, "Import at the COPY floor"). Blocks go out and come back in
file order, so what is stored, replaced and rejected is exactly what the serial path
(``batch.ingest``) gives.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from datetime import tzinfo
from typing import BinaryIO

from atende_logs.ingest.batch import Batch, Encoder, batched, prepare
from atende_logs.ingest.readers import (
    FileRange,
    ndjson_blocks,
    ndjson_ranges,
    read_ndjson_block,
    read_ndjson_range,
)
from atende_logs.kinds import KINDS, Kind
from atende_logs.models import Rejection

BLOCK_BYTES = 4 << 20
"""Lines sent to a worker at a time: large enough that sending them costs little."""

IN_FLIGHT_PER_WORKER = 4
"""Blocks handed out ahead per worker, so that none sits idle while the writer writes
(docs/benchmarks-history.md#2026-11-26-to-2026-11-27-every-design-choice-tried-kept-or-dropped)."""


def default_workers() -> int:
    """One parsing process per core but the one this process writes on, up to 4."""
    return max(1, min(4, len(os.sched_getaffinity(0)) - 1))


def batches_in_workers(
    stream: BinaryIO,
    kind: Kind,
    zone: tzinfo,
    dialer_id: int | None,
    *,
    workers: int,
    batch_size: int,
    encode: Encoder,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[Batch | Rejection]:
    """``batch.batched`` over ``batch.prepare`` of the NDJSON ``stream``, run in ``workers``
    processes, a block at a time (a batch never spans two blocks). ``encode`` must pickle:
    a module-level function. At most ``IN_FLIGHT_PER_WORKER`` blocks per worker are read
    ahead, so memory stays bounded."""
    # spawn, not fork: this process may hold database connections and their threads.
    context = multiprocessing.get_context("spawn")
    path = _path_of(stream)
    blocks: Iterator[tuple[bytes | FileRange, int | None]] = (
        ndjson_ranges(stream, path, block_bytes) if path else ndjson_blocks(stream, block_bytes)
    )
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        in_flight: deque[Future[tuple[list[Batch | Rejection], int]]] = deque()
        line = 1  # the first line of the next block to come back
        for count, (block, first_line) in enumerate(blocks):
            if count == 0 and first_line is not None:
                line = first_line
            job = (kind.name, block, zone, dialer_id, batch_size, encode)
            in_flight.append(pool.submit(_batch_block, *job))
            if len(in_flight) >= IN_FLIGHT_PER_WORKER * workers:
                items, lines = in_flight.popleft().result()
                yield from _numbered(items, line)
                line += lines
        while in_flight:
            items, lines = in_flight.popleft().result()
            yield from _numbered(items, line)
            line += lines


def _path_of(stream: BinaryIO) -> str | None:
    """The absolute path of the file ``stream`` reads, if it reads one a worker can open."""
    name = getattr(stream, "name", None)
    if not isinstance(name, str):
        return None
    try:
        if not os.path.samestat(os.stat(name), os.fstat(stream.fileno())):
            return None
    except (OSError, ValueError):
        return None
    return os.path.abspath(name)


def _numbered(items: list[Batch | Rejection], first_line: int) -> Iterator[Batch | Rejection]:
    """A block's items with its rejections' positions counted from the file's start."""
    for item in items:
        if isinstance(item, Rejection):
            yield replace(item, position=item.position + first_line - 1)
        else:
            yield item


def _batch_block(
    kind_name: str,
    block: bytes | FileRange,
    zone: tzinfo,
    dialer_id: int | None,
    batch_size: int,
    encode: Encoder,
) -> tuple[list[Batch | Rejection], int]:
    """A block's batches and rejections (positions from 1 at its first line), and the
    newlines it holds."""
    kind = KINDS[kind_name]
    if isinstance(block, bytes):
        data, lines = block, block.count(b"\n")
    else:
        data, lines = read_ndjson_range(block)
    rows = prepare(kind, read_ndjson_block(data, 1), zone, dialer_id)
    return list(batched(kind, rows, batch_size, encode)), lines
