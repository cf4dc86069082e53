"""NDJSON parsed in worker processes while this process writes.

Turning lines into rows (JSON parsing, validation, filter keys) costs more CPU than writing
them. The workers do it, and encode each batch in the store's own form (for PostgreSQL, the
bytes of a binary COPY), so this process only passes bytes on to the database. Blocks go
out and come back in file order, so what is stored, replaced and rejected is exactly what
the serial path (``batch.ingest``) gives.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import tzinfo
from typing import BinaryIO

from atende_logs.ingest.batch import Batch, Encoder, batched, prepare
from atende_logs.ingest.readers import ndjson_blocks, read_ndjson_block
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
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        in_flight: deque[Future[list[Batch | Rejection]]] = deque()
        for block, first_line in ndjson_blocks(stream, block_bytes):
            job = (kind.name, block, first_line, zone, dialer_id, batch_size, encode)
            in_flight.append(pool.submit(_batch_block, *job))
            if len(in_flight) >= IN_FLIGHT_PER_WORKER * workers:
                yield from in_flight.popleft().result()
        while in_flight:
            yield from in_flight.popleft().result()


def _batch_block(
    kind_name: str,
    block: bytes,
    first_line: int,
    zone: tzinfo,
    dialer_id: int | None,
    batch_size: int,
    encode: Encoder,
) -> list[Batch | Rejection]:
    kind = KINDS[kind_name]
    rows = prepare(kind, read_ndjson_block(block, first_line), zone, dialer_id)
    return list(batched(kind, rows, batch_size, encode))
