"""Retention marks on the wire (issue 18; docs/sync.md, "Retention"): in the JSON page and the
live tail a mark is exactly ``{"op":"expire","before":…,"changed_at":…}``, in its place among
the records' changes; the OpenAPI document describes it; the client's tail and
``pull --changes`` take it as any other change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from jsonschema_rs import Draft202012Validator

from atende_logs.client import LogsClient
from atende_logs.client.follow import ChangesPull
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.routes.changes import changes_body
from atende_logs.http.sse import OPENED, change_event
from atende_logs.kinds import CDRS
from atende_logs.models import Change, ChangePage, Customer, FeedPosition
from atende_logs.query.changes import encode_cursor
from atende_logs.storage import Store
from changes._consumer import Consumer, listing
from changes.test_feed import BASE_MS, cdr, put

BEFORE_MS = 1_699_999_999_001  # 2023-11-14T22:13:19.001Z
MARKED_MS = 1_700_000_123_456


def mark(seq: int = 8, before_ms: int = BEFORE_MS) -> Change:
    return Change("", FeedPosition(seq, None), MARKED_MS, None, expired_before_ms=before_ms)


def upsert(seq: int, doc_id: str) -> Change:
    doc = orjson.dumps({"callid": doc_id, "ori_start_time": BEFORE_MS - 1})
    return Change(doc_id, FeedPosition(seq, doc_id), MARKED_MS - 1, doc)


def delete(seq: int, doc_id: str) -> Change:
    return Change(doc_id, FeedPosition(seq, doc_id), MARKED_MS - 1, None)


EXPECTED_MARK = {
    "op": "expire",
    "before": "2023-11-14T22:13:19.001Z",
    "changed_at": "2023-11-14T22:15:23.456Z",
}


def page(*changes: Change, end: bool = True) -> ChangePage:
    return ChangePage(list(changes), changes[-1].position, end)


def test_a_mark_in_a_json_page_is_exactly_op_before_and_changed_at() -> None:
    body = orjson.loads(changes_body(page(upsert(7, "a"), mark(8), delete(9, "b"))))
    assert [c["op"] for c in body["changes"]] == ["upsert", "expire", "delete"]
    assert body["changes"][1] == EXPECTED_MARK  # no id, no item, nothing else
    assert body["changes"][0]["item"]["callid"] == "a" and body["changes"][2]["id"] == "b"
    alone = orjson.loads(changes_body(page(mark(8))))
    assert alone["changes"] == [EXPECTED_MARK]
    assert alone["cursor"] == encode_cursor(FeedPosition(8, None))


def test_a_mark_in_the_tail_is_one_event_with_its_cursor() -> None:
    event = change_event(mark(8))
    lines = event.decode().split("\n")
    assert lines[0] == f"id: {encode_cursor(FeedPosition(8, None))}"
    assert lines[1] == "event: change"
    assert orjson.loads(lines[2].removeprefix("data: ")) == EXPECTED_MARK
    assert lines[3:] == ["", ""]  # one data line, then the blank line ending the event


def test_the_epoch_and_the_millisecond_are_written_to_the_ms() -> None:
    assert orjson.loads(changes_body(page(mark(1, before_ms=0))))["changes"][0]["before"] == (
        "1970-01-01T00:00:00.000Z"
    )
    before = orjson.loads(change_event(mark(1, 1_700_000_000_999)).split(b"data: ")[1])["before"]
    assert datetime.fromisoformat(before) == datetime(2023, 11, 14, 22, 13, 20, 999_000, UTC)


@pytest.fixture(scope="module")
def change_schema() -> Iterator[Draft202012Validator]:
    """The document's schema of a page of changes, every component reachable."""
    document = create_app(Settings()).openapi()
    schema = {
        "$ref": "#/components/schemas/ChangesPage",
        "components": document["components"],
    }
    yield Draft202012Validator(schema)


def test_the_openapi_document_takes_a_mark_and_nothing_looser(
    change_schema: Draft202012Validator,
) -> None:
    body = orjson.loads(changes_body(page(upsert(7, "a"), mark(8), delete(9, "b"))))
    change_schema.validate(body)
    for wrong in (
        {**EXPECTED_MARK, "id": ""},  # a mark has no id
        {k: v for k, v in EXPECTED_MARK.items() if k != "before"},
        {**EXPECTED_MARK, "op": "expired"},
        {"op": "upsert", "before": EXPECTED_MARK["before"], "changed_at": "x"},  # no id
    ):
        assert not change_schema.is_valid({**body, "changes": [wrong]}), wrong


def test_the_documented_examples_of_the_feed_hold_a_mark_and_are_valid(
    change_schema: Draft202012Validator,
) -> None:
    document = create_app(Settings()).openapi()
    content = document["paths"][CDRS.changes_path]["get"]["responses"]["200"]["content"]
    example = content["application/json"]["example"]
    change_schema.validate(example)
    assert "expire" in [c["op"] for c in example["changes"]]
    stream = content["text/event-stream"]["example"]
    data = [orjson.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: ")]
    # (the page's example item has lost its nulls on the way into the document: FastAPI's)
    assert [c["op"] for c in data] == [c["op"] for c in example["changes"]]
    assert data[2] == example["changes"][2] and data[2]["op"] == "expire"


def _serving(pages: dict[str | None, ChangePage], events: list[Change]) -> httpx.MockTransport:
    """A server answering the feed's pages by ``since`` (bytes from the server's own
    encoder), and a stream of ``events`` then its end."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("accept") == "text/event-stream":
            body = OPENED + b"".join(change_event(change) for change in events)
            return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
        since = request.url.params.get("since")
        return httpx.Response(
            200, content=changes_body(pages[since]), headers={"content-type": "application/json"}
        )

    return httpx.MockTransport(answer)


def _client(transport: httpx.MockTransport) -> LogsClient:
    return LogsClient(
        "http://testserver", "atl_test_key", allow_insecure_http=True, transport=transport
    )


def test_the_client_tail_yields_a_mark_in_its_place() -> None:
    events = [upsert(7, "a"), mark(8), upsert(9, "c")]
    with _client(_serving({}, events)) as client:
        tail = client.tail("cdrs")
        got = [next(tail) for _ in events]
        tail.close()
    assert [c["op"] for c in got] == ["upsert", "expire", "upsert"]
    assert got[1] == EXPECTED_MARK
    assert tail.cursor == encode_cursor(FeedPosition(9, "c"))


def test_pull_changes_writes_a_mark_as_a_line_of_its_own(tmp_path: Path) -> None:
    first = ChangePage([upsert(7, "a"), mark(8)], FeedPosition(8, None), False)
    pages = {None: first, encode_cursor(first.position): page(delete(9, "a"))}
    output = tmp_path / "cdrs.changes.ndjson"
    with (
        _client(_serving(pages, [])) as client,
        ChangesPull.open(client, "cdrs", {}, output) as pull,
    ):
        for _ in pull.run():
            pass
    lines = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    assert [c["op"] for c in lines] == ["upsert", "expire", "delete"]
    assert lines[1] == EXPECTED_MARK


def test_the_tests_consumer_expires_by_the_time_ingest_stores() -> None:
    """The consumer the feed's contract tests use (``changes._consumer``) applies a mark with
    the server's own reading of each document's time (ingest's ``to_row``), offset-less
    times in the zone they were ingested in."""
    consumer = Consumer(None, CDRS, "key", zone=ZoneInfo("America/Sao_Paulo"))  # type: ignore[arg-type]
    times = {
        "epoch": BEFORE_MS - 1,
        "epoch-at": BEFORE_MS,
        "utc": "2023-11-14T22:13:19.000Z",
        "offset-less": "2023-11-14T19:13:19.000",  # 22:13:19Z in São Paulo
        "offset-less-later": "2023-11-14T22:13:18.000",  # 01:13:18Z the next day
    }
    consumer.copy = {id_: {"callid": id_, "ori_start_time": t} for id_, t in times.items()}
    consumer.apply({"changes": [EXPECTED_MARK], "cursor": "c.x"})
    assert set(consumer.copy) == {"epoch-at", "offset-less-later"}
    with pytest.raises(AssertionError):  # a mark is exactly op, before and changed_at
        consumer.apply({"changes": [{**EXPECTED_MARK, "id": ""}], "cursor": "c.y"})


def test_a_record_whose_time_moved_back_then_expired_leaves_no_copy_behind(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    """A consumer holds c0003 at its first time (after the cut); the record is sent again
    with an earlier time (before the cut) and retention removes it. The mark covers the
    record's current time only, and the copy's row is at the old one: the feed must tell
    that removal with a tombstone (storage: a removed record whose change the consumer may
    not have seen, with a time that moved, is not covered by the mark)."""
    put(store, customer, [cdr(n) for n in range(4)])
    consumer = Consumer(client, CDRS, api_key)
    consumer.catch_up()
    put(store, customer, [{**cdr(3), "ori_start_time": BASE_MS - 1}])
    store.delete_before(customer.id, CDRS, BASE_MS + 500, limit=10)  # c0000 and c0003
    consumer.catch_up()
    assert consumer.copy == listing(client, CDRS, api_key)
