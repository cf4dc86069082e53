"""NDJSON parsed in worker processes while this process writes.

An import spends about half its CPU turning lines into rows (JSON parsing, validation, filter
keys) and half writing them, all under one GIL. With the parsing in other processes, the two
halves run on different cores. Blocks go out and come back in file order, so what is stored,
replaced and rejected is exactly what the serial path (``batch.prepare``) gives.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import tzinfo
from typing import BinaryIO

from atende_logs.ingest.batch import prepare
from atende_logs.ingest.readers import ndjson_blocks, read_ndjson_block
from atende_logs.kinds import KINDS, Kind
from atende_logs.models import Rejection, Row

BLOCK_BYTES = 4 << 20
"""Lines sent to a worker at a time: large enough that sending them costs little."""


def default_workers() -> int:
    """One parsing process per core but the one this process writes on, up to 4."""
    return max(1, min(4, len(os.sched_getaffinity(0)) - 1))


def prepare_in_workers(
    stream: BinaryIO,
    kind: Kind,
    zone: tzinfo,
    dialer_id: int | None,
    workers: int,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[Row | Rejection]:
    """``batch.prepare(kind, read_records(stream, "ndjson"), ...)``, parsed in ``workers``
    processes. At most two blocks per worker are in flight, so memory stays bounded."""
    # spawn, not fork: this process may hold database connections and their threads.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        in_flight: deque[Future[list[Row | Rejection]]] = deque()
        for block, first_line in ndjson_blocks(stream, block_bytes):
            in_flight.append(
                pool.submit(_prepare_block, kind.name, block, first_line, zone, dialer_id)
            )
            if len(in_flight) >= 2 * workers:
                yield from in_flight.popleft().result()
        while in_flight:
            yield from in_flight.popleft().result()


def _prepare_block(
    kind_name: str, block: bytes, first_line: int, zone: tzinfo, dialer_id: int | None
) -> list[Row | Rejection]:
    return list(prepare(KINDS[kind_name], read_ndjson_block(block, first_line), zone, dialer_id))
