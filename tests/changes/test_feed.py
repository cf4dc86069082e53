"""The change feed's contract (issue 16, docs/sync.md), on SQLite and PostgreSQL: every change
appears once per state, in commit order, deletes included, and a consumer applying them ends
with exactly the list endpoint's records, for the same filters."""

from __future__ import annotations

import threading
import time
from datetime import UTC
from typing import Any

import pytest
from fastapi.testclient import TestClient

from atende_logs import retention
from atende_logs.http.sse import iso_ms
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CARDS, CDRS, Kind
from atende_logs.models import Customer
from atende_logs.storage import Store
from changes._consumer import Consumer, listing
from changes._tombstones import delete_records

BASE_MS = 1_700_000_000_000
DAY_MS = 86_400_000
PHONE = "(11) 98765-4321"


def cdr(n: int, **fields: Any) -> dict[str, Any]:
    return {"callid": f"c{n:04d}", "ori_start_time": BASE_MS + n * 1000, **fields}


def put(store: Store, customer: Customer, docs: list[dict[str, Any]], kind: Kind = CDRS) -> None:
    dialer = None
    if kind.scope.by_dialer:
        dialer = store.list_dialers(customer.id)[0].id
    ingest(store, customer.id, kind, as_records(docs), zone=UTC, dialer_id=dialer)


def test_a_fresh_consumer_gets_every_record_as_the_list_returns_it(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    put(store, customer, [cdr(n, period="worktime") for n in range(25)])
    consumer = Consumer(client, CDRS, api_key)
    consumer.catch_up(size=7)
    assert consumer.copy == listing(client, CDRS, api_key)
    assert len(consumer.received) == 25
    assert {change["op"] for change in consumer.received} == {"upsert"}
    # ISO 8601 UTC to the millisecond
    assert all(
        time.strptime(change["changed_at"], "%Y-%m-%dT%H:%M:%S.%fZ") for change in consumer.received
    )


def test_identical_content_is_no_change_and_different_content_one(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    put(store, customer, [cdr(n) for n in range(3)])
    consumer = Consumer(client, CDRS, api_key)
    consumer.catch_up()
    put(store, customer, [cdr(n) for n in range(3)])  # sent again, unchanged
    assert consumer.pull()["changes"] == []
    put(store, customer, [cdr(1, public_audio_url="https://x/1"), cdr(2, period="x")])
    put(store, customer, [cdr(1, public_audio_url="https://x/2")])  # changed twice
    answer = consumer.pull()
    # Each record once, at its latest state, in commit order (c0002 changed before c0001).
    assert [(c["op"], c["id"]) for c in answer["changes"]] == [
        ("upsert", "c0002"),
        ("upsert", "c0001"),
    ]
    assert answer["changes"][1]["item"]["public_audio_url"] == "https://x/2"
    assert answer["end_of_stream"] is True
    assert consumer.copy == listing(client, CDRS, api_key)


def test_a_record_crossing_a_filter_arrives_as_delete_then_upsert(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    put(store, customer, [cdr(1, period="worktime"), cdr(2, period="worktime")])
    filters = {"period": "worktime", "start_at": str(BASE_MS), "end_at": str(BASE_MS + 10_000)}
    consumer = Consumer(client, CDRS, api_key, filters)
    consumer.catch_up()
    assert set(consumer.copy) == {"c0001", "c0002"}
    put(store, customer, [cdr(1, period="holiday")])  # leaves the filter
    put(store, customer, [{**cdr(2, period="worktime"), "ori_start_time": BASE_MS + 60_000}])
    answer = consumer.pull()
    assert [(c["op"], c["id"]) for c in answer["changes"]] == [
        ("delete", "c0001"),
        ("delete", "c0002"),
    ]
    put(store, customer, [cdr(1, period="worktime")])  # comes back
    assert [(c["op"], c["id"]) for c in consumer.pull()["changes"]] == [("upsert", "c0001")]
    assert consumer.copy == listing(client, CDRS, api_key, filters)


def test_erasure_redacts_as_upserts_and_deletes_cards(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    _, token = store.create_dialer(customer.id, "d")
    put(store, customer, [cdr(1, ani=PHONE), cdr(2, ani="5521999999999")])
    cards = [
        {"id": "k1", "timestamp": BASE_MS, "number": PHONE},
        {"id": "k2", "timestamp": BASE_MS},
    ]
    put(store, customer, cards, CARDS)
    cdr_feed, card_feed = (
        Consumer(client, CDRS, api_key),
        Consumer(client, CARDS, api_key, token=token),
    )
    cdr_feed.catch_up()
    card_feed.catch_up()
    store.erase_phone(customer.id, PHONE, "ticket 1")
    answer = cdr_feed.pull()
    assert [(c["op"], c["id"]) for c in answer["changes"]] == [("upsert", "c0001")]
    assert "98765" not in str(answer["changes"][0]["item"])
    assert [(c["op"], c["id"]) for c in card_feed.pull()["changes"]] == [("delete", "k1")]
    assert cdr_feed.copy == listing(client, CDRS, api_key)
    assert card_feed.copy == listing(client, CARDS, api_key, {"token": token})


def test_retention_removals_are_one_mark(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    put(store, customer, [cdr(n) for n in range(10)])
    consumer = Consumer(client, CDRS, api_key)
    consumer.catch_up()
    now = BASE_MS + 5_500 + 30 * DAY_MS
    retention.purge(store, default_days=30, now_ms=now, customer_id=customer.id, pause_s=0)
    answer = consumer.pull()
    (mark,) = answer["changes"]
    assert set(mark) == {"op", "before", "changed_at"} and mark["op"] == "expire"
    assert mark["before"] == iso_ms(BASE_MS + 5_500).decode()
    assert consumer.copy == listing(client, CDRS, api_key) and len(consumer.copy) == 4
    # A consumer starting now reads no trace of the removed records.
    fresh = Consumer(client, CDRS, api_key)
    fresh.catch_up()
    assert fresh.copy == consumer.copy
    assert all(change["op"] == "upsert" for change in fresh.received[:4])


def test_a_purge_in_batches_marks_each_batch_and_ties_get_tombstones(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    """A batch that leaves older records marks only up to the oldest left; a removed record
    at that very time is told by a tombstone. A newer mark replaces the older ones."""
    put(store, customer, [cdr(n) for n in range(6)] + [cdr(100 + n) for n in range(3)])
    tie = {"callid": "t0002", "ori_start_time": BASE_MS + 2_000}  # same time as c0002
    put(store, customer, [tie])
    consumer = Consumer(client, CDRS, api_key)
    consumer.catch_up()
    assert store.delete_before(customer.id, CDRS, BASE_MS + 5_500, limit=3) == 3
    first = consumer.pull()["changes"]
    ops = sorted((c["op"], c.get("id"), c.get("before")) for c in first)
    left = listing(client, CDRS, api_key)
    assert consumer.copy == left and len(left) == 7
    # c0000, c0001 and one of the two records at BASE_MS + 2_000 went; the other is left,
    # so the mark reaches that time and the removed one at it has a tombstone.
    gone_at_tie = ({"c0002", "t0002"} - set(left)).pop()
    assert ops == [
        ("delete", gone_at_tie, None),
        ("expire", None, iso_ms(BASE_MS + 2_000).decode()),
    ]
    while store.delete_before(customer.id, CDRS, BASE_MS + 5_500, limit=3) == 3:
        pass
    consumer.catch_up()
    assert consumer.copy == listing(client, CDRS, api_key) and len(consumer.copy) == 3
    fresh = Consumer(client, CDRS, api_key)
    fresh.catch_up()
    assert [c["op"] for c in fresh.received].count("expire") == 1  # older marks replaced
    assert fresh.copy == consumer.copy


def test_a_cursor_older_than_the_pruned_tombstones_gets_410(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    put(store, customer, [cdr(n) for n in range(4)])
    old = Consumer(client, CDRS, api_key)
    old.pull(size=1)  # stands before the deletes below
    delete_records(store, customer.id, CDRS, ["c0000", "c0001", "c0002"])
    current = Consumer(client, CDRS, api_key)
    current.catch_up()
    since_time = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 60))
    assert (
        store.prune_changes(customer.id, CDRS, before_ms=int(time.time() * 1000) + 1, limit=1) == 1
    )
    assert (
        store.prune_changes(customer.id, CDRS, before_ms=int(time.time() * 1000) + 1, limit=9) == 2
    )
    for since in (old.cursor, since_time):
        response = client.get(
            CDRS.changes_path, params={"since": since}, headers={"x-api-key": api_key}
        )
        assert response.status_code == 410, response.text
        error = response.json()["error"]
        assert (error["status"], error["code"], error["parameter"]) == (
            410,
            "history_expired",
            "since",
        )
        assert "recomece sem since" in error["message"]
    # A consumer past the pruned tombstones carries on; one starting over gets the rest.
    assert current.pull()["changes"] == []
    fresh = Consumer(client, CDRS, api_key)
    fresh.catch_up()
    assert fresh.copy == listing(client, CDRS, api_key) and set(fresh.copy) == {"c0003"}


def test_a_consumer_that_began_after_a_prune_pages_past_the_horizon_and_goes_on(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    """Its cursors lie below the horizon while it reads records older than the pruned
    tombstones: they carry the horizon it began under, so only a later prune is a 410."""
    put(store, customer, [cdr(n) for n in range(6)])
    delete_records(store, customer.id, CDRS, ["c0000", "c0001"])
    now_ms = int(time.time() * 1000) + 1
    assert store.prune_changes(customer.id, CDRS, before_ms=now_ms, limit=9) == 2
    fresh = Consumer(client, CDRS, api_key)
    fresh.pull(size=1)
    fresh.catch_up(size=1)  # every page's cursor is below the horizon
    assert fresh.copy == listing(client, CDRS, api_key) and len(fresh.copy) == 4
    paused = Consumer(client, CDRS, api_key)
    paused.pull(size=1)  # stands before the removal of c0002 below
    delete_records(store, customer.id, CDRS, ["c0002"])
    fresh.catch_up()  # it read the removal: a prune after it changes nothing for it
    now_ms = int(time.time() * 1000) + 1
    assert store.prune_changes(customer.id, CDRS, before_ms=now_ms, limit=9) == 1
    assert fresh.pull()["changes"] == []
    response = client.get(
        CDRS.changes_path, params={"since": paused.cursor}, headers={"x-api-key": api_key}
    )
    assert response.status_code == 410, response.text


def test_since_a_time_starts_at_the_changes_made_then(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    put(store, customer, [cdr(1), cdr(2)])
    time.sleep(0.02)
    middle_ms = int(time.time() * 1000)
    time.sleep(0.02)
    put(store, customer, [cdr(3), cdr(1, period="x")])
    consumer = Consumer(client, CDRS, api_key)
    consumer.cursor = str(middle_ms)
    consumer.catch_up()
    assert [c["id"] for c in consumer.received] == ["c0001", "c0003"]
    consumer = Consumer(client, CDRS, api_key)
    consumer.cursor = str(middle_ms + 60_000)  # after every change: nothing, and a cursor
    assert consumer.pull()["changes"] == []
    put(store, customer, [cdr(4)])
    assert [c["id"] for c in consumer.pull()["changes"]] == ["c0004"]


def test_a_long_poll_answers_within_a_second_of_the_commit(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    consumer = Consumer(client, CDRS, api_key)
    consumer.catch_up()
    committed: list[float] = []

    def write() -> None:
        time.sleep(0.5)
        put(store, customer, [cdr(7)])
        committed.append(time.monotonic())

    writer = threading.Thread(target=write)
    writer.start()
    began = time.monotonic()
    answer = consumer.pull(wait=10)
    answered = time.monotonic()
    writer.join()
    assert [c["id"] for c in answer["changes"]] == ["c0007"]
    assert answered - committed[0] < 1.0
    assert answered - began < 5


def test_a_long_poll_with_nothing_answers_empty_when_its_wait_ends(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    put(store, customer, [cdr(1)])
    consumer = Consumer(client, CDRS, api_key)
    consumer.catch_up()
    cursor = consumer.cursor
    put(store, customer, [cdr(1)])  # the same again: no change
    began = time.monotonic()
    answer = consumer.pull(wait=1)
    assert 0.9 < time.monotonic() - began < 3
    assert answer == {"changes": [], "cursor": cursor, "end_of_stream": True}
    assert store.signal.watching() == 0  # type: ignore[attr-defined]


def test_another_customers_changes_never_show(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    other = store.create_customer("other")
    put(store, other, [cdr(1)])
    consumer = Consumer(client, CDRS, api_key)
    consumer.catch_up()
    assert consumer.received == []


@pytest.mark.parametrize(
    ("params", "status", "parameter"),
    [
        ({"since": "c.bm9wZQ"}, 400, "since"),
        ({"since": "yesterday"}, 400, "since"),
        ({"wait": "61"}, 400, "wait"),
        ({"wait": "-1"}, 400, "wait"),
        ({"size": "1001"}, 400, "size"),
        ({"after": "1"}, 400, "after"),
        ({"period": "x", "nope": "1"}, 400, "nope"),
    ],
)
def test_bad_parameters_get_400_naming_them(
    client: TestClient, api_key: str, params: dict[str, str], status: int, parameter: str
) -> None:
    response = client.get(CDRS.changes_path, params=params, headers={"x-api-key": api_key})
    assert response.status_code == status, response.text
    assert response.json()["error"]["parameter"] == parameter


def test_keys_and_dialers_are_checked_as_on_the_list(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    assert client.get(CDRS.changes_path).status_code == 401
    headers = {"x-api-key": api_key}
    assert client.get(CARDS.changes_path, headers=headers).status_code == 400  # no token
    other = store.create_customer("other")
    _, foreign = store.create_dialer(other.id, "theirs")
    response = client.get(CARDS.changes_path, params={"token": foreign}, headers=headers)
    assert response.status_code == 404


def test_a_purge_forgets_removals_older_than_the_retention(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    put(store, customer, [cdr(1), cdr(2)])
    before = Consumer(client, CDRS, api_key)
    before.pull(size=1)
    delete_records(store, customer.id, CDRS, ["c0001"])  # c0001's tombstone
    later = int(time.time() * 1000) + 31 * DAY_MS  # the tombstone is past 30 days' retention
    retention.purge(store, default_days=30, now_ms=later, customer_id=customer.id, pause_s=0)
    response = client.get(
        CDRS.changes_path, params={"since": before.cursor}, headers={"x-api-key": api_key}
    )
    assert response.status_code == 410
    fresh = Consumer(client, CDRS, api_key)
    fresh.catch_up()
    assert fresh.copy == listing(client, CDRS, api_key)
