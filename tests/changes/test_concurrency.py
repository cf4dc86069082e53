"""No gap under concurrency (issue 16), on both databases; PostgreSQL is the one where sequence
numbers could commit out of order. Writers commit concurrently, each holding its transaction
open a random while after taking its number, and a consumer reads the feed all along with
small pages: every change must reach it exactly once. The same run with numbers taken from a
plain sequence, without the data version's row lock, does lose changes: the test can tell."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import psycopg
import pytest

from atende_logs.config import Settings
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CDRS
from atende_logs.models import FEED_START, ChangeQuery, FeedPosition, SearchQuery
from atende_logs.storage import Store, open_store
from atende_logs.storage.postgres import CLOCK_MS, PostgresStore

WRITERS = 4
BATCHES = 12
ROUNDS = 15
BASE_MS = 1_700_000_000_000
HOUR_MS = 3_600_000


@pytest.fixture
def own_store(database_url: str) -> Iterator[Store]:
    store = open_store(Settings(database_url=database_url, pool_size=WRITERS + 2))
    yield store
    store.close()


def slow_commits(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold each writing transaction open a random while after its changes are written."""
    write = store._write_batch

    def slowly(*args: Any) -> tuple[int, int]:
        counts: tuple[int, int] = write(*args)
        time.sleep(random.uniform(0, 0.004))
        return counts

    monkeypatch.setattr(store, "_write_batch", slowly)


def run_round(store: Store) -> tuple[list[str], list[str]]:
    """Concurrent writers of distinct new ids and a consumer: (ids written, ids received)."""
    customer = store.create_customer(f"concurrency {uuid.uuid4().hex[:6]}")
    written: list[str] = []
    received: list[str] = []
    done = threading.Event()
    guard = threading.Lock()

    def writer(name: int) -> None:
        for batch in range(BATCHES):
            ids = [f"w{name}-{batch}-{n}" for n in range(random.randint(1, 3))]
            # An hour of its own: writers share no hourly count row, whose lock would
            # serialise them regardless of the feed's.
            docs = [{"callid": i, "ori_start_time": BASE_MS + name * HOUR_MS} for i in ids]
            ingest(store, customer.id, CDRS, as_records(docs), zone=UTC)
            with guard:
                written.extend(ids)

    def read(position: FeedPosition) -> tuple[FeedPosition, bool]:
        listing = SearchQuery(CDRS, customer.id, size=random.randint(1, 4))
        page = store.changes_since(ChangeQuery(listing, since=position))
        received.extend(change.doc_id for change in page.changes)
        return page.position, page.end_of_stream

    def consumer() -> None:
        position = FEED_START
        while not done.is_set():
            position, _ = read(position)
        end = False
        while not end:
            position, end = read(position)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    reader = threading.Thread(target=consumer)
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    return written, received


def test_no_change_is_skipped_when_commits_come_out_of_order(
    own_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_commits(own_store, monkeypatch)
    for _ in range(ROUNDS):
        written, received = run_round(own_store)
        assert len(written) >= WRITERS * BATCHES
        assert sorted(received) == sorted(written)  # every change, each exactly once


@pytest.mark.postgres
def test_without_the_lock_the_same_run_loses_changes(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_store = open_store(Settings(database_url=postgres_url, pool_size=WRITERS + 2))
    assert isinstance(pg_store, PostgresStore)
    sequence = f"feed_unlocked_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE SEQUENCE {sequence}")

    # A batch takes its number inside the statement that writes it (postgres.NUMBERING).
    unlocked = f"SELECT nextval('{sequence}') AS seq, {CLOCK_MS} AS at"
    monkeypatch.setattr(pg_store, "_numbering", unlocked)
    # Writers of one customer's kind also take turns for the partitioned table's sake
    # (postgres._merge_sql), which would hide the numbering's race: without that too.
    monkeypatch.setattr(pg_store, "_lock_writers", lambda *args: None)
    slow_commits(pg_store, monkeypatch)
    try:
        lost = 0
        for _ in range(ROUNDS):
            written, received = run_round(pg_store)
            lost += len(set(written) - set(received))
            if lost:
                break
        assert lost > 0
    finally:
        pg_store.close()
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f"DROP SEQUENCE {sequence}")
