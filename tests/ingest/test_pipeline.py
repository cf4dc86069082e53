"""The one ingest entry point (``ingest.pipeline.run``): files and streams, the format
chosen or detected, serial or parallel parsing, the record limit, progress and the
statistics policy. On both databases."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from atende_logs import demo_documents
from atende_logs.errors import PayloadTooLargeError
from atende_logs.ingest import pipeline
from atende_logs.ingest.documents import to_row
from atende_logs.ingest.pipeline import Owner
from atende_logs.kinds import CARDS, CDRS, Kind
from atende_logs.models import Customer, IngestResult, SearchQuery
from atende_logs.storage import Store
from atende_logs.storage.postgres import PostgresStore

ZONE = demo_documents.ZONE


def cdrs(count: int) -> list[dict[str, Any]]:
    start = datetime(2024, 3, 1, tzinfo=ZONE)
    plan = demo_documents.DemoPlan(
        start=start, days=2, attendants=2, attendant_logs=0, cdrs=count, cards=0
    )
    return list(demo_documents.cdrs(plan))


def ndjson(docs: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(doc) + b"\n" for doc in docs)


def stored(store: Store, kind: Kind, owner: Owner, token: str | None = None) -> list[bytes]:
    query = SearchQuery(kind, owner.customer_id, size=1000, dialer_token=token)
    return store.scan(query, limit=10_000).items


def counts(result: IngestResult) -> tuple[int, int, int]:
    return result.stored, result.replaced, result.rejected


@pytest.fixture
def other(store: Store) -> Customer:
    return store.create_customer("other")


def test_a_file_and_a_stream_of_it_store_the_same(
    store: Store, customer: Customer, other: Customer, tmp_path: Path
) -> None:
    docs = cdrs(30)
    path = tmp_path / "cdrs.json"  # a JSON array, whatever its name says
    path.write_bytes(orjson.dumps(docs))
    from_file = pipeline.run(store, path, CDRS, Owner(customer.id), zone=ZONE)
    stream = io.BytesIO(path.read_bytes())
    from_stream = pipeline.run(store, stream, CDRS, Owner(other.id), zone=ZONE)

    assert from_file == from_stream
    assert counts(from_file) == (30, 0, 0)
    assert stored(store, CDRS, Owner(customer.id)) == stored(store, CDRS, Owner(other.id))
    assert not stream.closed  # a stream is the caller's


def test_auto_reads_a_file_named_csv_as_csv(
    store: Store, customer: Customer, tmp_path: Path
) -> None:
    dialer, token = store.create_dialer(customer.id, "fila")
    owner = Owner(customer.id, dialer.id)
    text = b"number;timestamp;status\n5521999990001;2024-03-01T10:00:00Z;to_call\n"
    path = tmp_path / "fichas.CSV"
    path.write_bytes(text)

    assert counts(pipeline.run(store, path, CARDS, owner, zone=ZONE)) == (1, 0, 0)
    # A stream has no name: auto reads JSON, and a CSV line is no JSON.
    as_json = pipeline.run(store, io.BytesIO(text), CARDS, owner, zone=ZONE)
    assert counts(as_json) == (0, 0, 2)
    as_csv = pipeline.run(store, io.BytesIO(text), CARDS, owner, zone=ZONE, fmt="csv")
    assert counts(as_csv) == (0, 1, 0)
    assert len(stored(store, CARDS, owner, token)) == 1


def test_the_owner_must_fit_the_kinds_scope(store: Store, customer: Customer) -> None:
    body = io.BytesIO(ndjson(cdrs(1)))
    with pytest.raises(ValueError, match="a dialer"):
        pipeline.run(store, body, CARDS, Owner(customer.id), zone=ZONE)
    with pytest.raises(ValueError, match="no dialer"):
        pipeline.run(store, body, CDRS, Owner(customer.id, 1), zone=ZONE)
    assert stored(store, CDRS, Owner(customer.id)) == []


def test_over_max_records_nothing_is_stored_in_one_batch(store: Store, customer: Customer) -> None:
    owner = Owner(customer.id)
    body = ndjson(cdrs(4))
    with pytest.raises(PayloadTooLargeError, match="mais de 3 registros"):
        pipeline.run(store, io.BytesIO(body), CDRS, owner, zone=ZONE, batch_size=4, max_records=3)
    assert stored(store, CDRS, owner) == []
    within = pipeline.run(
        store, io.BytesIO(body), CDRS, owner, zone=ZONE, batch_size=5, max_records=4
    )
    assert counts(within) == (4, 0, 0)
    with pytest.raises(ValueError, match="parse_workers=0"):
        pipeline.run(
            store, io.BytesIO(body), CDRS, owner, zone=ZONE, max_records=4, parse_workers=2
        )


def test_progress_after_each_batch_up_to_the_whole_input(
    store: Store, customer: Customer, tmp_path: Path
) -> None:
    path = tmp_path / "cdrs.ndjson"
    path.write_bytes(ndjson(cdrs(25)))
    seen: list[tuple[int, int]] = []
    pipeline.run(
        store,
        path,
        CDRS,
        Owner(customer.id),
        zone=ZONE,
        batch_size=10,
        on_batch=lambda result, read: seen.append((result.stored, read)),
    )

    assert [stored for stored, _ in seen] == [10, 20, 25]
    positions = [read for _, read in seen]
    assert positions == sorted(positions) and positions[-1] == path.stat().st_size


class Spy:
    """Calls through to a function, keeping the keyword arguments of each call."""

    def __init__(self, function: Any) -> None:
        self.function, self.calls = function, list[dict[str, Any]]()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.function(*args, **kwargs)


def test_large_ndjson_is_parsed_in_workers_after_a_look_at_its_start(
    store: Store, customer: Customer, other: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default policy sends NDJSON past ``PARALLEL_FROM_BYTES`` to parsing processes;
    the bytes it read to tell NDJSON from JSON are read again, so nothing is lost."""
    docs = cdrs(60)
    body = b"\n\n" + ndjson(docs)
    serial = pipeline.run(store, io.BytesIO(body), CDRS, Owner(other.id), zone=ZONE)
    spy = Spy(pipeline.batches_in_workers)
    monkeypatch.setattr(pipeline, "batches_in_workers", spy)
    monkeypatch.setattr(pipeline, "PARALLEL_FROM_BYTES", len(body) - 1)
    monkeypatch.setattr(pipeline, "_SNIFF_BYTES", 100)  # less than the first document
    stream = io.BytesIO(b"ignored" + body)
    stream.seek(len(b"ignored"))  # a stream is read from where it is
    # A stream's size is not known: parsed here unless told otherwise.
    here = pipeline.run(store, stream, CDRS, Owner(customer.id), zone=ZONE)
    assert (spy.calls, here) == ([], serial)

    stream.seek(len(b"ignored"))
    told = pipeline.run(store, stream, CDRS, Owner(customer.id), zone=ZONE, parse_workers=1)
    assert [call["workers"] for call in spy.calls] == [1]
    assert counts(told) == (0, 60, 0)
    assert stored(store, CDRS, Owner(customer.id)) == stored(store, CDRS, Owner(other.id))


def test_a_file_past_the_threshold_gets_the_default_workers(
    store: Store, customer: Customer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ndjson_file, array_file = tmp_path / "cdrs.ndjson", tmp_path / "cdrs.json"
    ndjson_file.write_bytes(ndjson(cdrs(20)))
    array_file.write_bytes(orjson.dumps(cdrs(20)))
    spy = Spy(pipeline.batches_in_workers)
    monkeypatch.setattr(pipeline, "batches_in_workers", spy)
    monkeypatch.setattr(pipeline, "PARALLEL_FROM_BYTES", ndjson_file.stat().st_size)

    result = pipeline.run(store, ndjson_file, CDRS, Owner(customer.id), zone=ZONE)
    assert [call["workers"] for call in spy.calls] == [pipeline.default_workers()]
    assert counts(result) == (20, 0, 0)
    # A JSON array is read in one process whatever its size, and so is a smaller file.
    pipeline.run(store, array_file, CDRS, Owner(customer.id), zone=ZONE, parse_workers=2)
    monkeypatch.setattr(pipeline, "PARALLEL_FROM_BYTES", ndjson_file.stat().st_size + 1)
    pipeline.run(store, ndjson_file, CDRS, Owner(customer.id), zone=ZONE)
    assert len(spy.calls) == 1


def test_statistics_are_refreshed_after_many_new_documents(
    store: Store, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    refreshed: list[tuple[Kind, tuple[int, int] | None]] = []
    monkeypatch.setattr(pipeline, "ANALYZE_AFTER", 3)
    monkeypatch.setattr(
        store, "refresh_statistics", lambda kind, span=None: refreshed.append((kind, span))
    )
    owner, docs = Owner(customer.id), cdrs(8)
    # PostgreSQL's rows say their times (its tables are partitioned by time): the refresh
    # is told the span of the batches that stored new documents.
    spans = isinstance(store, PostgresStore)

    def run(batch: list[dict[str, Any]], **options: Any) -> None:
        pipeline.run(store, io.BytesIO(ndjson(batch)), CDRS, owner, zone=ZONE, **options)

    run(docs[:2])
    assert refreshed == []  # fewer new documents than ANALYZE_AFTER
    run(docs[:5])
    times = sorted(to_row(CDRS, doc, ZONE, None, orjson.dumps(doc)).time_ms for doc in docs[:5])
    expected = (times[0], times[-1]) if spans else None
    assert refreshed == [(CDRS, expected)]  # 3 new ones (2 replaced, which do not count)
    run(docs[:5])
    assert len(refreshed) == 1  # all replaced: nothing the planner has not seen
    run(docs, refresh_statistics=False)  # as the HTTP routes ask: 3 new, no refresh
    assert len(refreshed) == 1
