"""``Sync`` applies a retention mark (issue 18; docs/sync.md, "Retention") into DuckDB, SQLite
and PostgreSQL: the rows whose time is before the mark's ``before`` go, in the same
transaction as the page's other rows and its cursor, and in the feed's order, so a record
upserted after the mark stays and one upserted before it goes.

The feed here is the server's own encoder (``changes_body``) behind a mock transport: the
pages a storage holding marks would serve, before that storage exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from atende_logs import retention
from atende_logs.client import LogsClient
from atende_logs.client.errors import ProtocolError
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.routes.changes import changes_body
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS
from atende_logs.models import Change, ChangePage, Customer, FeedPosition
from atende_logs.query.changes import encode_cursor
from atende_logs.storage import Store
from atende_logs.storage.partitions import month_start
from atende_logs.sync import Sync, open_destination
from atende_logs.sync.columns import column_values, table_columns
from changes._consumer import listing
from changes.test_feed import put
from storage.test_partitions import private  # noqa: F401 - a fixture: a schema of its own
from sync._copy import copy_of, cursor_of

BEFORE_MS = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z, 19:13:20 in São Paulo
CHANGED_MS = 1_700_000_500_000


class Feed:
    """Pages of changes, each record change or mark at the next position, served by
    ``since``, the server's way (a page's cursor is its last change's position)."""

    def __init__(self) -> None:
        self.pages: list[ChangePage] = []
        self.seq = 0

    def page(self, *changes: Change) -> None:
        position = changes[-1].position
        self.pages.append(ChangePage(list(changes), position, False))

    def at(self, doc_id: str | None) -> FeedPosition:
        self.seq += 1
        return FeedPosition(self.seq, doc_id)

    def upsert(self, doc_id: str, time: Any, **fields: Any) -> Change:
        doc = orjson.dumps({"callid": doc_id, "ori_start_time": time, **fields})
        return Change(doc_id, self.at(doc_id), CHANGED_MS, doc)

    def delete(self, doc_id: str) -> Change:
        return Change(doc_id, self.at(doc_id), CHANGED_MS, None)

    def mark(self, before_ms: int = BEFORE_MS) -> Change:
        return Change("", self.at(None), CHANGED_MS, None, expired_before_ms=before_ms)

    def transport(self) -> httpx.MockTransport:
        def answer(request: httpx.Request) -> httpx.Response:
            starts = [None] + [encode_cursor(page.position) for page in self.pages]
            n = starts.index(request.url.params.get("since"))
            if n == len(self.pages):  # past the last page: nothing more
                page = ChangePage([], self.pages[-1].position, True)
            else:
                page = replace(self.pages[n], end_of_stream=n == len(self.pages) - 1)
            body = changes_body(page)
            return httpx.Response(200, content=body, headers={"content-type": "application/json"})

        return httpx.MockTransport(answer)


@pytest.fixture
def feed() -> Feed:
    return Feed()


def sync(feed: Feed, where: str, **options: Any) -> Sync:
    client = LogsClient(
        "http://testserver", "atl_test_key", allow_insecure_http=True, transport=feed.transport()
    )
    with client, open_destination(where) as destination:
        job = Sync(client, destination, "cdrs")
        for _ in job.run(**options):
            pass
    return job


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def test_a_mark_drops_the_rows_before_it_and_keeps_the_rest(feed: Feed, destination: str) -> None:
    feed.page(
        feed.upsert("old", BEFORE_MS - 1),
        feed.upsert("edge", BEFORE_MS),  # at before: kept (strictly before goes)
        feed.upsert("new", BEFORE_MS + 1),
        feed.upsert("old-text", iso(BEFORE_MS - 3_600_000)),
        feed.upsert("new-text", "2023-11-14T22:13:20.000+00:00"),
    )
    job = sync(feed, destination)
    assert len(copy_of(destination, "cdrs")) == 5
    feed.page(feed.mark())
    job = sync(feed, destination)
    assert set(copy_of(destination, "cdrs")) == {"edge", "new", "new-text"}
    assert (job.progress.marks, job.progress.expired) == (1, 2)
    assert cursor_of(destination, "cdrs") == encode_cursor(feed.pages[-1].position)


def test_changes_around_a_mark_apply_in_the_feeds_order(feed: Feed, destination: str) -> None:
    """One page, read as the feed orders it: what precedes the mark is subject to it, what
    follows it is not, a record's two changes across the mark included (the runner's
    dedup by id does not reach across a mark)."""
    feed.page(feed.upsert("kept", BEFORE_MS - 10), feed.upsert("gone", BEFORE_MS - 20))
    sync(feed, destination)
    feed.page(
        feed.upsert("before-mark", BEFORE_MS - 5),  # upserted, then expired by the mark
        feed.upsert("twice", BEFORE_MS - 5, period="first"),
        feed.upsert("fresh", BEFORE_MS + 5),
        feed.mark(),
        feed.upsert("kept", BEFORE_MS - 10, period="late"),  # arrived again after the mark
        feed.upsert("twice", BEFORE_MS - 5, period="second"),
        feed.upsert("after-mark", BEFORE_MS - 1),  # a late arrival, after the purge
    )
    job = sync(feed, destination)
    copy = copy_of(destination, "cdrs")
    assert set(copy) == {"kept", "twice", "fresh", "after-mark"}
    assert copy["twice"]["period"] == "second" and copy["kept"]["period"] == "late"
    # "kept" and "gone" (the earlier page's) and "before-mark" and "twice" (this one's)
    assert job.progress.expired == 4


def test_a_mark_between_pages_joined_in_one_transaction_and_a_second_mark(
    feed: Feed, destination: str
) -> None:
    """A first copy: the pages come one after another, several per transaction; two marks,
    the later one with a later ``before``, each in its place."""
    feed.page(feed.upsert("a", BEFORE_MS - 100), feed.upsert("b", BEFORE_MS - 50))
    feed.page(feed.mark(BEFORE_MS - 60), feed.upsert("c", BEFORE_MS - 70))
    feed.page(feed.upsert("d", BEFORE_MS - 10), feed.mark(BEFORE_MS - 20))
    feed.page(feed.upsert("e", BEFORE_MS - 30), feed.delete("b"))
    job = sync(feed, destination, size=2)
    assert set(copy_of(destination, "cdrs")) == {"d", "e"}
    assert (job.progress.marks, job.progress.expired) == (2, 3)  # a; then b and c


def test_an_offset_less_time_is_read_in_sao_paulo(feed: Feed, destination: str) -> None:
    """As the server reads one at ingest with its default zone (ATENDE_TIMEZONE): a
    document time without an offset is read in America/Sao_Paulo (UTC-3 in November 2023)."""
    feed.page(
        feed.upsert("just-before", "2023-11-14T19:13:19.999"),  # 22:13:19.999Z
        feed.upsert("at", "2023-11-14T19:13:20"),  # 22:13:20Z: at before, kept
        feed.upsert("utc-reading", "2023-11-14T22:13:19"),  # before only if read as UTC
    )
    feed.page(feed.mark())
    sync(feed, destination)
    assert set(copy_of(destination, "cdrs")) == {"at", "utc-reading"}


def test_a_mark_without_a_valid_before_stops_the_sync_with_nothing_applied(
    feed: Feed, destination: str
) -> None:
    feed.page(feed.upsert("a", BEFORE_MS - 1))
    sync(feed, destination)
    cursor = cursor_of(destination, "cdrs")
    feed.page(feed.upsert("b", BEFORE_MS + 1), feed.mark())
    good = feed.transport()

    def broken(request: httpx.Request) -> httpx.Response:
        answer = good.handle_request(request)
        body = answer.read().replace(b'"before":"2023-11-14T22:13:20.000Z"', b'"before":"soon"')
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    client = LogsClient(
        "http://testserver", "k", allow_insecure_http=True, transport=httpx.MockTransport(broken)
    )
    with (
        client,
        open_destination(destination) as dest,
        pytest.raises(ProtocolError, match="before"),
    ):
        for _ in Sync(client, dest, "cdrs").run():
            pass
    assert set(copy_of(destination, "cdrs")) == {"a"}  # b's upsert rolled back with the page
    assert cursor_of(destination, "cdrs") == cursor


@pytest.fixture
def table(destination: str) -> Iterator[str]:
    with open_destination(destination) as dest, dest.transaction():
        dest.create("cdrs", table_columns(CDRS))
    yield destination


def test_delete_before_compares_instants_and_keeps_a_null_time(table: str) -> None:
    columns = table_columns(CDRS)
    changes = [
        {"op": "upsert", "id": id_, "changed_at": iso(CHANGED_MS), "item": {"callid": id_, **doc}}
        for id_, doc in [
            ("utc", {"ori_start_time": "2023-11-14T22:13:19.999Z"}),
            ("offset", {"ori_start_time": "2023-11-14T20:13:19.999-02:00"}),
            ("epoch", {"ori_start_time": BEFORE_MS - 1}),
            ("later", {"ori_start_time": "2023-11-14T19:13:20.000-03:00"}),
            ("null", {"ori_start_time": "never"}),
        ]
    ]
    before = datetime.fromtimestamp(BEFORE_MS / 1000, UTC)
    with open_destination(table) as dest:
        with dest.transaction():
            dest.upsert("cdrs", columns, column_values(columns, changes))
            assert dest.delete_before("cdrs", "ori_start_time", before) == 3
        assert dest.delete_before("cdrs", "ori_start_time", before) == 0
    assert set(copy_of(table, "cdrs")) == {"later", "null"}


# End to end: the storage writes the marks (store.delete_before), the server serves them.

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def ingest_in(store: Store, customer: Customer, docs: list[dict[str, Any]], zone: Any) -> None:
    ingest(store, customer.id, CDRS, as_records(docs), zone=zone)


def copy_run(logs: LogsClient, where: str, **options: Any) -> Sync:
    with open_destination(where) as destination:
        job = Sync(logs, destination, "cdrs", options.pop("params", None))
        for _ in job.run(**options):
            pass
    return job


def test_a_purge_in_batches_reaches_the_copy_as_the_list_has_it(
    destination: str,
    logs_client: LogsClient,
    client: TestClient,
    store: Store,
    customer: Customer,
    api_key: str,
) -> None:
    """Records in, a sync, a purge in batches of 3 with syncs between them (and a filtered
    copy beside), a late arrival older than the cut: each copy is the list's answer, and the
    removals came as marks, not as one delete each."""
    old = [{"callid": f"o{n}", "ori_start_time": BEFORE_MS - 10_000 + n * 1000} for n in range(8)]
    new = [{"callid": f"n{n}", "ori_start_time": BEFORE_MS + n * 1000} for n in range(4)]
    # Offset-less text, ingested in the server's default zone, the one the copy reads it in.
    text = [
        {"callid": "t-old", "ori_start_time": "2023-11-14T19:13:19.999"},  # 22:13:19.999Z
        {"callid": "t-new", "ori_start_time": "2023-11-14T19:13:20.000"},  # at the cut: kept
    ]
    ingest_in(store, customer, [{**d, "period": "worktime"} for d in old + new + text], SAO_PAULO)
    filters = {"period": "worktime", "start_at": str(BEFORE_MS - 5_500)}
    copy_run(logs_client, destination, size=5)
    with open_destination(destination) as dest:
        filtered = Sync(logs_client, dest, "cdrs", filters, "worktime")
        for _ in filtered.run(size=4):
            pass
    assert len(copy_of(destination, "cdrs")) == 14

    assert store.delete_before(customer.id, CDRS, BEFORE_MS, limit=3) == 3
    job = copy_run(logs_client, destination, size=2)
    assert (job.progress.marks, job.progress.deletes) == (1, 0)
    assert copy_of(destination, "cdrs") == listing(client, CDRS, api_key)
    while store.delete_before(customer.id, CDRS, BEFORE_MS, limit=3):
        pass
    ingest_in(store, customer, [{"callid": "late", "ori_start_time": BEFORE_MS - 1}], UTC)
    job = copy_run(logs_client, destination, size=3)
    assert job.progress.deletes == 0 and job.progress.marks >= 1
    expected = listing(client, CDRS, api_key)
    assert set(expected) == {"n0", "n1", "n2", "n3", "t-new", "late"}
    assert copy_of(destination, "cdrs") == expected
    with open_destination(destination) as dest:
        for _ in Sync(logs_client, dest, "cdrs", filters, "worktime").run(size=4):
            pass
    assert copy_of(destination, "worktime") == listing(client, CDRS, api_key, filters)


def test_a_fresh_copy_after_a_purge_and_the_other_kinds(
    destination: str,
    logs_client: LogsClient,
    client: TestClient,
    store: Store,
    customer: Customer,
    api_key: str,
) -> None:
    """A first copy made after the purge gets the mark too (harmless: nothing older is
    upserted); cards and attendant logs, by their ``timestamp``, a card mark reaching every
    dialer of the customer."""
    _, token = store.create_dialer(customer.id, "d")
    cards = [{"id": f"k{n}", "timestamp": BEFORE_MS - 2 + n, "status": "s"} for n in range(4)]
    put(store, customer, cards, CARDS)
    logs = [{"id": f"a{n}", "timestamp": BEFORE_MS - 2 + n, "kind": "login"} for n in range(4)]
    put(store, customer, logs, ATTENDANT_LOGS)
    with open_destination(destination) as dest:
        for kind, params in (("cards", {"token": token}), ("attendant-logs", None)):
            for _ in Sync(logs_client, dest, kind, params).run():
                pass
    for kind in (CARDS, ATTENDANT_LOGS):
        assert store.delete_before(customer.id, kind, BEFORE_MS, limit=100) == 2
    with open_destination(destination) as dest:
        for kind, params, table in (
            ("cards", {"token": token}, "cards"),
            ("attendant-logs", None, "attendant_logs"),
            ("attendant-logs", None, "fresh"),
        ):
            job = Sync(logs_client, dest, kind, params, table)
            for _ in job.run():
                pass
            assert job.progress.marks == 1, table
    assert copy_of(destination, "cards") == listing(client, CARDS, api_key, {"token": token})
    assert set(copy_of(destination, "cards")) == {"k2", "k3"}
    assert copy_of(destination, "attendant_logs") == listing(client, ATTENDANT_LOGS, api_key)
    assert copy_of(destination, "fresh") == copy_of(destination, "attendant_logs")


def test_the_zone_caveat_an_offset_less_time_ingested_in_another_zone(
    destination: str, logs_client: LogsClient, store: Store, customer: Customer
) -> None:
    """docs/sync.md, "Retention": a server ingesting in another zone than São Paulo (here
    UTC) stores an offset-less time hours apart from the copy's reading of it, so near the
    cut the copy keeps a record the server removed (or the reverse). Times with an offset,
    or in epoch milliseconds, are exact."""
    ingest_in(
        store,
        customer,
        [
            {"callid": "naive", "ori_start_time": "2023-11-14T22:13:19"},  # UTC: before
            {"callid": "offset", "ori_start_time": "2023-11-14T22:13:19Z"},
        ],
        UTC,
    )
    copy_run(logs_client, destination)
    assert store.delete_before(customer.id, CDRS, BEFORE_MS, limit=10) == 2
    copy_run(logs_client, destination)
    # The copy read "naive" as 01:13:19Z the next day (São Paulo): after the cut, kept.
    assert set(copy_of(destination, "cdrs")) == {"naive"}


@pytest.mark.postgres
def test_whole_partitions_dropped_by_a_purge_reach_the_copy(
    destination: str,
    private: tuple[str, Store],  # noqa: F811 - the fixture imported above
) -> None:
    """PostgreSQL's purge drops the time partitions past every customer's cut whole
    (docs/sync.md, "Retention"): the customer's mark reaches the copy, which ends as the
    list has it, with no delete per record. A schema of the test's own (the purge is every
    customer's)."""
    url, store = private
    customer = store.create_customer("partitions")
    store.set_retention(customer.id, 40)
    now = datetime.now(UTC)
    starts = [month_start(now.year, now.month - back) for back in (1, 2, 3, 4)]
    docs = [
        {"callid": f"{m}-{n}", "ori_start_time": start + n * 86_400_000}
        for m, start in enumerate(starts)
        for n in range(3)
    ]
    ingest(store, customer.id, CDRS, as_records(docs), zone=UTC)
    store.maintain_partitions()
    key = store.create_api_key(customer.id)[1]
    with TestClient(create_app(Settings(database_url=url), store=store)) as client:
        logs = LogsClient(
            "http://testserver", key, allow_insecure_http=True, transport=client._transport
        )
        with logs:
            copy_run(logs, destination)
            assert len(copy_of(destination, "cdrs")) == 12
            now_ms = int(now.timestamp() * 1000)
            made = {p.name for p in store.list_partitions(CDRS)}
            retention.purge(store, default_days=365, now_ms=now_ms, pause_s=0)
            assert {p.name for p in store.list_partitions(CDRS)} < made  # some went whole
            job = copy_run(logs, destination)
        expected = listing(client, CDRS, key)
    assert 0 < len(expected) < 12
    assert copy_of(destination, "cdrs") == expected
    assert job.progress.deletes == 0 and job.progress.marks >= 1
