"""Reads on a real streaming replica (``ATENDE_DATABASE_REPLICA_URLS``, issue 18): pages,
exports and the change feed go to a replica that qualifies; keys never do; a lagging,
behind or dead replica is passed over without a request failing.

Replay is paused (``pg_wal_replay_pause()``) to make the replica lag: what the primary
wrote after the pause is then the proof of where a read went.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CDRS
from atende_logs.models import ChangeQuery, Customer, SearchQuery
from atende_logs.storage.postgres import PostgresStore
from replicas._pair import Pair

pytestmark = pytest.mark.postgres

BASE_MS = 1_700_000_000_000
FOREVER_MS = 24 * 3_600_000
"""A lag bound no test reaches: the replica serves whatever its lag."""


def _until(condition: Callable[[], object], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.05)


def cdr(n: int) -> dict[str, Any]:
    return {"callid": f"r{n:05d}", "ori_start_time": BASE_MS + n * 1000}


@pytest.fixture
def primary(pair: Pair) -> Iterator[PostgresStore]:
    store = PostgresStore(pair.primary.url)
    yield store
    store.close()


def replicated(pair: Pair, max_lag_ms: int = FOREVER_MS) -> PostgresStore:
    return PostgresStore(
        pair.primary.url, replica_urls=[pair.replica.url], replica_max_lag_ms=max_lag_ms
    )


@pytest.fixture
def customer(primary: PostgresStore, pair: Pair) -> Customer:
    made = primary.create_customer(f"replicas {uuid.uuid4().hex[:8]}")
    pair.wait_caught_up()
    return made


def put(store: PostgresStore, customer: Customer, numbers: range) -> None:
    ingest(store, customer.id, CDRS, as_records([cdr(n) for n in numbers]), zone=UTC)


@contextmanager
def replay_paused(pair: Pair) -> Iterator[None]:
    pair.replica.sql("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        pair.replica.sql("SELECT pg_wal_replay_resume()")
        pair.wait_caught_up()


def ids(items: list[bytes]) -> set[str]:
    return {orjson.loads(item)["callid"] for item in items}


def listing(customer: Customer, size: int = 1000) -> SearchQuery:
    return SearchQuery(CDRS, customer.id, size)


def test_pages_exports_and_the_feed_are_read_on_the_replica(
    pair: Pair, primary: PostgresStore, customer: Customer
) -> None:
    put(primary, customer, range(3))
    pair.wait_caught_up()
    store = replicated(pair)
    try:
        with replay_paused(pair):
            put(primary, customer, range(3, 5))  # on the primary only, while replay waits
            on_primary = {f"r{n:05d}" for n in range(5)}
            assert ids(primary.search(listing(customer)).items) == on_primary
            replica_has = {f"r{n:05d}" for n in range(3)}
            assert ids(store.search(listing(customer)).items) == replica_has
            assert store.search(listing(customer, size=1)).total == 3
            assert ids(store.scan(listing(customer), 100).items) == replica_has
            page = store.changes_since(ChangeQuery(listing(customer)))
            assert {change.doc_id for change in page.changes} == replica_has
            assert page.position.lsn is not None
        _until(lambda: ids(store.search(listing(customer)).items) == on_primary)
    finally:
        store.close()


def test_a_replica_lagging_past_the_bound_is_skipped(
    pair: Pair, primary: PostgresStore, customer: Customer
) -> None:
    store = replicated(pair, max_lag_ms=300)
    try:
        (member,) = store._replicas.members
        _until(lambda: member.lag_ms is not None and member.lag_ms <= 300)
        with replay_paused(pair):
            put(primary, customer, range(2))
            _until(lambda: member.lag_ms is not None and member.lag_ms > 300)
            assert ids(store.search(listing(customer)).items) == {"r00000", "r00001"}
    finally:
        store.close()


def test_a_feed_cursor_never_goes_back_to_a_replica_behind_it(
    pair: Pair, primary: PostgresStore, customer: Customer
) -> None:
    store = replicated(pair)
    try:
        (member,) = store._replicas.members
        with replay_paused(pair):
            put(primary, customer, range(2))
            member.breaker.is_open = True  # as if unreachable: this page comes from the primary
            first = store.changes_since(ChangeQuery(listing(customer)))
            member.breaker.is_open = False
            assert {change.doc_id for change in first.changes} == {"r00000", "r00001"}
            put(primary, customer, range(2, 3))
            # The replica qualifies by lag, but has not replayed what the cursor has seen:
            # the next page is the primary's, with the change the replica lacks.
            assert store._replicas.pick() is member
            after = store.changes_since(ChangeQuery(listing(customer), since=first.position))
            assert [change.doc_id for change in after.changes] == ["r00002"]
    finally:
        store.close()


def test_keys_and_an_after_item_the_replica_lacks_are_read_on_the_primary(
    pair: Pair, primary: PostgresStore, customer: Customer
) -> None:
    kept_key = primary.create_api_key(customer.id)[1]
    revoked, revoked_key = primary.create_api_key(customer.id)
    put(primary, customer, range(1))
    pair.wait_caught_up()
    store = replicated(pair)
    settings = Settings(database_url=pair.primary.url)
    try:
        with replay_paused(pair), TestClient(create_app(settings, store=store)) as client:
            primary.revoke_api_key(revoked.id)
            new_key = primary.create_api_key(customer.id)[1]  # the replica has never seen it
            put(primary, customer, range(1, 4))
            params = {"start_at": str(BASE_MS), "end_at": str(BASE_MS + 3_600_000)}

            def search(key: str, **extra: str) -> Any:
                return client.get(CDRS.path, params={**params, **extra}, headers={"x-api-key": key})

            assert search(revoked_key).status_code == 401
            answer = search(new_key)
            assert answer.status_code == 200
            assert [item["callid"] for item in answer.json()["items"]] == ["r00000"]
            # An item the client got from the primary, unknown to the replica: read there.
            answer = search(kept_key, after="id:r00001")
            assert answer.status_code == 200, answer.text
            assert [item["callid"] for item in answer.json()["items"]] == ["r00002", "r00003"]
    finally:
        store.close()


def test_a_dead_replica_takes_no_request_down_and_serves_again_when_back(
    pair: Pair, primary: PostgresStore, customer: Customer
) -> None:
    put(primary, customer, range(3))
    pair.wait_caught_up()
    store = replicated(pair)
    try:
        (member,) = store._replicas.members
        pair.replica.stop()
        try:
            for _ in range(20):  # the first reads find it gone; none fails
                assert store.search(listing(customer)).total == 3
            _until(lambda: member.breaker.is_open)
            assert store._replicas.pick() is None
        finally:
            pair.replica.start()
        _until(lambda: store._replicas.pick() is member)
        assert store.search(listing(customer)).total == 3
    finally:
        store.close()
