"""The import's parallel parsing gives what the serial path gives, row for row."""

from __future__ import annotations

import io
from datetime import datetime

import orjson

from atende_logs import demo
from atende_logs.ingest.batch import prepare
from atende_logs.ingest.parallel import prepare_in_workers
from atende_logs.ingest.readers import read_records
from atende_logs.kinds import CDRS

ZONE = demo.ZONE


def test_workers_prepare_the_same_rows_and_rejections_in_order() -> None:
    start = datetime(2024, 3, 1, tzinfo=ZONE)
    plan = demo.DemoPlan(start=start, days=2, attendants=3, attendant_logs=0, cdrs=300, cards=0)
    lines = [orjson.dumps(doc) for doc in demo.cdrs(plan)]
    lines[10] = b'{"call_id": "truncated'  # bad JSON
    lines[20] = b"[1]"  # not an object
    lines[30] = orjson.dumps({"call_id": "no time"})
    lines.insert(40, b"")  # a blank line still counts for the positions after it
    lines.append(lines[5])  # a repeated document: the store keeps the last one
    data = b"\n".join(lines) + b"\n"

    serial = list(prepare(CDRS, read_records(io.BytesIO(data), "ndjson"), ZONE))
    # Small blocks, so that rows cross many block boundaries and two workers interleave.
    parallel = list(prepare_in_workers(io.BytesIO(data), CDRS, ZONE, None, 2, block_bytes=4096))

    assert parallel == serial
    assert [type(item).__name__ for item in serial].count("Rejection") == 3
    assert len(serial) == len(lines) - 1  # every line but the blank one
