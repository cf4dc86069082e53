"""The import's parallel parsing stores what the serial path stores, counts included."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from atende_logs import demo_documents
from atende_logs.ingest.batch import ingest, store_batches
from atende_logs.ingest.parallel import batches_in_workers
from atende_logs.ingest.readers import read_records
from atende_logs.kinds import CDRS
from atende_logs.models import SearchQuery
from atende_logs.storage import Store

ZONE = demo_documents.ZONE


def stored(store: Store, customer_id: int) -> list[bytes]:
    return store.scan(SearchQuery(CDRS, customer_id, size=1000), limit=10_000).items


@pytest.mark.parametrize("source", ["stream", "file"])
def test_workers_store_the_same_rows_counts_and_rejections(
    store: Store, source: str, tmp_path: Path
) -> None:
    """From a stream the blocks are sent to the workers; from a file, each worker reads its
    own range of it and this process numbers the rejections afterwards."""
    start = datetime(2024, 3, 1, tzinfo=ZONE)
    plan = demo_documents.DemoPlan(
        start=start, days=2, attendants=3, attendant_logs=0, cdrs=300, cards=0
    )
    lines = [orjson.dumps(doc) for doc in demo_documents.cdrs(plan)]
    lines[10] = b'{"call_id": "truncated'  # bad JSON
    lines[20] = b"[1]"  # not an object
    lines[30] = orjson.dumps({"call_id": "no time"})
    lines.insert(40, b"")  # a blank line still counts for the positions after it
    lines.insert(42, lines[41])  # repeated within a block: the batch keeps the last one
    lines.append(lines[5])  # repeated in another block: the later write replaces it
    data = b"\n \n" + b"\n".join(lines) + b"\n"  # blank lines first: counted, not read
    path = tmp_path / "cdrs.ndjson"
    path.write_bytes(data)

    serial_customer = store.create_customer("serial").id
    serial = ingest(
        store, serial_customer, CDRS, read_records(io.BytesIO(data), "ndjson"), zone=ZONE
    )
    parallel_customer = store.create_customer("parallel").id
    # Small blocks and batches, so that rows cross many block and batch boundaries and two
    # workers interleave.
    stream = io.BytesIO(data) if source == "stream" else path.open("rb")
    batches = batches_in_workers(
        stream,
        CDRS,
        ZONE,
        None,
        workers=2,
        batch_size=7,
        encode=store.encode_rows,
        block_bytes=4096,
    )
    with stream:
        parallel = store_batches(store, parallel_customer, CDRS, batches)

    assert parallel == serial
    assert (serial.stored, serial.replaced, serial.rejected) == (297, 2, 3)
    assert [item.position for item in serial.rejections] == [13, 23, 33]
    assert stored(store, parallel_customer) == stored(store, serial_customer)
    assert len(stored(store, serial_customer)) == 297


def test_a_parsing_process_loads_only_what_parsing_needs() -> None:
    """Each parsing process starts by importing the console script's module and the
    encoder; loading the CLI, the settings or psycopg there cost each one over a second."""
    script = (
        "import sys, atende_logs.cli, atende_logs.ingest.parallel, atende_logs.storage._pgcopy\n"
        "heavy = {'typer', 'rich', 'pydantic', 'pydantic_settings', 'psycopg', 'fastapi'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    assert loaded.stdout.decode().strip() == "[]"
