"""The live tail (issue 16, docs/sync.md): the change feed as Server-Sent Events, on SQLite and
PostgreSQL, through a real server (the in-process test client cannot stream an endless
answer). Commits made after a stream opened arrive in order, each once, as the JSON feed
has them; ``Last-Event-ID`` resumes exactly; heartbeats keep the line alive; a stream holds
one of its key's concurrent requests until it closes; filters apply; a server shutting down
ends its streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from atende_logs.http.compression import ENCODINGS
from atende_logs.http.sse import HEARTBEAT, OPENED, tail
from atende_logs.kinds import CDRS
from atende_logs.models import ChangeQuery, Customer
from atende_logs.query.changes import parse_changes
from atende_logs.storage import Store
from bench.server import Server
from changes._consumer import Consumer, listing
from changes._stream import Stream
from changes._tombstones import delete_records
from changes.test_feed import cdr, put

HEARTBEAT_S = 0.3
SERVER_ENV = {
    "ATENDE_STREAM_HEARTBEAT_S": str(HEARTBEAT_S),
    # One request at a time per key: a stream's slot is seen taken, then given back.
    "ATENDE_CONCURRENT_REQUESTS_PER_KEY": "1",
}


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("tail") / "server.log"
    with Server(database_url, log, env=SERVER_ENV) as running:
        yield running


@pytest.fixture
def http(server: Server, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"x-api-key": api_key}, timeout=30) as c:
        yield c


@pytest.fixture(params=["identity", *ENCODINGS])
def coded_http(
    request: pytest.FixtureRequest, server: Server, api_key: str
) -> Iterator[httpx.Client]:
    """A client asking for one coding: each event of a compressed stream is flushed as it is
    sent, so it arrives as promptly as uncompressed (issue 17)."""
    headers = {"x-api-key": api_key, "accept-encoding": request.param}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as c:
        yield c


def connect(
    http: httpx.Client,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Stream:
    """A stream of the CDRs feed, once the key's slot is free: a stream closed just before
    gives it back when the server sees the disconnect, a moment later (a client follows
    the 429's Retry-After)."""
    deadline = time.monotonic() + 30  # a loaded machine can be slow to notice
    while True:
        stream = Stream(http, CDRS.changes_path, params, headers)
        if stream.response.status_code != 429 or time.monotonic() > deadline:
            return stream
        stream.close()
        time.sleep(0.05)


def opened(stream: Stream) -> None:
    assert stream.response.status_code == 200, stream.response.read()
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    assert stream.response.headers.get_list("cache-control") == ["no-store"]
    assert stream.next().comments == ["open"]


def test_a_stream_delivers_each_commit_after_it_opened_once_in_order(
    coded_http: httpx.Client, client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    put(store, customer, [cdr(1), cdr(2)])
    with connect(coded_http) as stream:
        opened(stream)
        coding = stream.response.headers.get("content-encoding", "identity")
        assert coding == coded_http.headers["accept-encoding"]
        assert stream.response.headers.get_list("vary") == ["Accept, Accept-Encoding"]
        first = stream.events(2)
        put(store, customer, [cdr(3)])
        put(store, customer, [cdr(4)])
        put(store, customer, [cdr(1, public_audio_url="https://x/1")])
        put(store, customer, [cdr(4)])  # the same again: no change
        later = stream.events(3)
        assert stream.quiet_for(3 * HEARTBEAT_S) == []  # each once: nothing more
    events = first + later
    assert [e.change["id"] for e in events] == ["c0001", "c0002", "c0003", "c0004", "c0001"]
    assert {e.fields["event"] for e in events} == {"change"}
    # The data is the JSON answer's change object, exactly; the id its cursor after it.
    consumer = Consumer(client, CDRS, api_key)
    consumer.catch_up()
    assert [e.change for e in events[1:]] == consumer.received  # c0001 moved to the end
    for n, event in enumerate(events):
        answer = client.get(
            CDRS.changes_path, params={"since": event.fields["id"]}, headers={"x-api-key": api_key}
        ).json()
        assert answer["changes"] == [e.change for e in events[n + 1 :]]
    copy: dict[str, Any] = {}
    for event in events:
        copy[event.change["id"]] = event.change["item"]
    assert copy == listing(client, CDRS, api_key)


def test_last_event_id_resumes_with_exactly_the_rest(
    http: httpx.Client, store: Store, customer: Customer
) -> None:
    put(store, customer, [cdr(n) for n in range(5)])
    with connect(http, {"size": "2"}) as stream:
        opened(stream)
        got = stream.events(2)
    last = got[-1].fields["id"]
    put(store, customer, [cdr(9)])
    with connect(http, {"size": "2"}, {"last-event-id": last}) as stream:
        opened(stream)
        rest = stream.events(4)
        assert stream.quiet_for(3 * HEARTBEAT_S) == []
    assert [e.change["id"] for e in got + rest] == [f"c{n:04d}" for n in (0, 1, 2, 3, 4, 9)]
    # since and Last-Event-ID: the same is fine, different is a 400 in the one error shape.
    with connect(http, {"since": last}, {"last-event-id": last}) as stream:
        opened(stream)
        assert stream.next_event().change["id"] == "c0002"
    with connect(http, {"since": rest[0].fields["id"]}, {"last-event-id": last}) as stream:
        assert stream.response.status_code == 400
        error = orjson_error(stream)
        assert (error["code"], error["parameter"]) == ("invalid_parameter", "since")


def orjson_error(stream: Stream) -> dict[str, Any]:
    stream.response.read()
    body: dict[str, Any] = stream.response.json()
    return body["error"]  # type: ignore[no-any-return]


def test_a_heartbeat_comes_while_nothing_changes(
    http: httpx.Client, store: Store, customer: Customer
) -> None:
    with connect(http) as stream:
        opened(stream)
        began = time.monotonic()
        assert stream.next(timeout=5).comments == ["keep-alive"]
        assert stream.next(timeout=5).comments == ["keep-alive"]
        assert time.monotonic() - began >= HEARTBEAT_S
        put(store, customer, [cdr(1)])  # and changes still come after heartbeats
        assert stream.next_event().change["id"] == "c0001"


def test_a_stream_holds_its_keys_slot_until_it_closes(
    http: httpx.Client, store: Store, customer: Customer
) -> None:
    first = Stream(http, CDRS.changes_path)
    opened(first)
    with Stream(http, CDRS.changes_path) as second:
        assert second.response.status_code == 429
        assert orjson_error(second)["code"] == "concurrency_limited"
    first.close()
    deadline = time.monotonic() + 30
    while True:  # the server sees the disconnect at once, or at its next write
        with Stream(http, CDRS.changes_path) as third:
            if third.response.status_code == 200:
                opened(third)
                put(store, customer, [cdr(1)])
                assert third.next_event().change["id"] == "c0001"
                return
            assert third.response.status_code == 429
        assert time.monotonic() < deadline, "the closed stream's slot never came back"
        time.sleep(0.1)


def test_filters_apply_and_a_record_leaving_them_arrives_as_delete(
    http: httpx.Client, store: Store, customer: Customer
) -> None:
    put(store, customer, [cdr(1, period="worktime"), cdr(2, period="worktime")])
    with connect(http, {"period": "worktime"}) as stream:
        opened(stream)
        assert [e.change["op"] for e in stream.events(2)] == ["upsert", "upsert"]
        changes = []
        # One at a time: a record changed again before the stream read it comes once, at
        # its latest state (the feed's "at most once per state").
        for doc in [cdr(2, period="offtime"), cdr(3, period="offtime"), cdr(2, period="worktime")]:
            put(store, customer, [doc])  # c0003 never matched: a delete too
            changes.append(stream.next_event().change)
    assert [(c["op"], c["id"]) for c in changes] == [
        ("delete", "c0002"),
        ("delete", "c0003"),
        ("upsert", "c0002"),
    ]
    assert "item" not in changes[0] and changes[2]["item"]["period"] == "worktime"


def test_errors_come_before_the_stream_as_json(
    http: httpx.Client, store: Store, customer: Customer
) -> None:
    put(store, customer, [cdr(1), cdr(2)])
    with connect(http, {"size": "1"}) as stream:
        opened(stream)
        old = stream.next_event().fields["id"]
    delete_records(store, customer.id, CDRS, ["c0000", "c0001"])
    assert store.prune_changes(customer.id, CDRS, int(time.time() * 1000) + 1, 10) == 2
    for params, headers, status, code in [
        ({}, {"last-event-id": old}, 410, "history_expired"),
        ({"since": old}, {}, 410, "history_expired"),
        ({"wait": "61"}, {}, 400, "invalid_parameter"),
        ({}, {"last-event-id": "c.nonsense"}, 400, "invalid_parameter"),
        ({}, {"x-api-key": "nope"}, 401, "unauthorized"),
    ]:
        with connect(http, params, headers) as stream:
            assert stream.response.status_code == status, params
            assert stream.response.headers["content-type"] == "application/json"
            assert orjson_error(stream)["code"] == code


def test_a_server_shutting_down_ends_its_streams(
    database_url: str, tmp_path: Path, store: Store, customer: Customer, api_key: str
) -> None:
    with (
        Server(database_url, tmp_path / "server.log", env=SERVER_ENV) as server,
        httpx.Client(base_url=server.url, headers={"x-api-key": api_key}, timeout=30) as http,
    ):
        stream = connect(http)
        opened(stream)
        began = time.monotonic()
        server.stop(grace_s=20)
        stopped = time.monotonic() - began
        assert stream.ended(timeout=5)
        assert stopped < 5, server.tail()  # not held until the grace ran out


# The stream's generator itself: every way it ends gives its watch back.


def _tail_query(store: Store, customer: Customer) -> ChangeQuery:
    query, _ = parse_changes(CDRS, [], customer_id=customer.id, default_tz="UTC")
    return query


def test_every_way_a_stream_ends_gives_its_watch_back(store: Store, customer: Customer) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        query = _tail_query(store, customer)
        # The client goes away: Starlette closes the generator.
        watch = store.watch_changes(customer.id, CDRS, loop)
        events = tail(store, query, watch, store.changes_since(query), 0.05)
        assert await anext(events) == OPENED
        assert await anext(events) == HEARTBEAT
        assert store.signal.watching() == 1  # type: ignore[attr-defined]
        await events.aclose()
        assert store.signal.watching() == 0  # type: ignore[attr-defined]
        # The server shuts down: the generator ends by itself.
        watch = store.watch_changes(customer.id, CDRS, loop)
        stopping = [False]
        events = tail(store, query, watch, store.changes_since(query), 5, lambda: stopping[0])
        assert await anext(events) == OPENED
        waiting = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.1)
        stopping[0] = True
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, 2)
        assert store.signal.watching() == 0  # type: ignore[attr-defined]

    asyncio.run(run())
