"""``Sync`` (issue 16; docs/sync.md, "A table kept exact (atende-logs sync)") into DuckDB,
SQLite and PostgreSQL, the server on SQLite and PostgreSQL: the copy equals the list
endpoint's answer after inserts, replacements, erasures, removals and filter crossings;
typed columns; a rerun with other
filters refused; a 410 names the rebuild, which replaces the copy."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from atende_logs.client import LogsClient
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS
from atende_logs.models import Customer
from atende_logs.storage import Store
from atende_logs.sync import Sync, SyncError, open_destination
from atende_logs.sync.columns import column_values, table_columns
from changes._consumer import listing
from changes._tombstones import delete_records
from changes.test_feed import BASE_MS, PHONE, cdr, put
from sync._copy import copy_of, cursor_of


def run(logs: LogsClient, where: str, kind: str = "cdrs", **options: object) -> None:
    params = options.pop("params", None)
    table = options.pop("table", None)
    with open_destination(where) as destination:
        for _ in Sync(logs, destination, kind, params, table).run(**options):  # type: ignore[arg-type]
            pass


def test_the_copy_follows_inserts_replacements_erasures_removals_and_filters(
    destination: str,
    logs_client: LogsClient,
    client: TestClient,
    store: Store,
    customer: Customer,
    api_key: str,
) -> None:
    filters = {"period": "worktime", "start_at": str(BASE_MS), "end_at": str(BASE_MS + 60_000)}
    put(store, customer, [cdr(n, period="worktime", ani=PHONE if n < 3 else "1") for n in range(9)])
    run(logs_client, destination, size=4)
    run(logs_client, destination, params=filters, table="worktime", size=3)
    assert len(copy_of(destination, "cdrs")) == 9

    put(store, customer, [cdr(1, period="holiday"), cdr(2, public_audio_url="https://x/2")])
    put(store, customer, [cdr(20, period="worktime"), {**cdr(4), "ori_start_time": BASE_MS - 1}])
    store.erase_phone(customer.id, PHONE, "ticket 1")
    store.delete_before(customer.id, CDRS, BASE_MS + 500, limit=10)  # retention: c0000
    for _ in range(2):  # the second run finds nothing more
        run(logs_client, destination, size=2)
        run(logs_client, destination, params=filters, table="worktime", size=5)
        assert copy_of(destination, "cdrs") == listing(client, CDRS, api_key)
        assert copy_of(destination, "worktime") == listing(client, CDRS, api_key, filters)
    assert "c0000" not in copy_of(destination, "cdrs")
    assert "98765" not in str(copy_of(destination, "cdrs"))


def test_cards_and_attendant_logs_have_their_own_tables(
    destination: str,
    logs_client: LogsClient,
    client: TestClient,
    store: Store,
    customer: Customer,
    api_key: str,
) -> None:
    _, token = store.create_dialer(customer.id, "d")
    cards = [{"id": f"k{n}", "timestamp": BASE_MS + n, "status": "to_call"} for n in range(3)]
    put(store, customer, cards, CARDS)
    put(store, customer, [{"id": "a1", "timestamp": BASE_MS, "kind": "login"}], ATTENDANT_LOGS)
    run(logs_client, destination, "cards", params={"token": token})
    run(logs_client, destination, "attendant-logs")
    assert copy_of(destination, "cards") == listing(client, CARDS, api_key, {"token": token})
    assert set(copy_of(destination, "attendant_logs")) == {"a1"}
    with open_destination(destination) as dest:
        state = dest.state("cards")
    assert state is not None and token not in state.params and "****" in state.params


def test_the_useful_fields_are_typed_columns(
    destination: str, logs_client: LogsClient, store: Store, customer: Customer
) -> None:
    put(
        store,
        customer,
        [
            cdr(1, duration_call=29, has_audio=True, call_status="answered"),
            cdr(2, duration_call="x"),
        ],
    )
    run(logs_client, destination)
    with open_destination(destination) as dest:
        rows = dest.execute(
            "SELECT id, ori_start_time, duration_call, has_audio, call_status, changed_at "
            "FROM cdrs ORDER BY id"
        )
    start = datetime.fromtimestamp((BASE_MS + 1000) / 1000, UTC)
    first, second = rows
    assert first[0] == "c0001" and first[2:5] in ((29, True, "answered"), (29, 1, "answered"))
    if destination.startswith("sqlite"):  # ISO 8601 UTC text there
        assert first[1] == start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    else:
        assert first[1] == start and first[5].tzinfo is not None
    assert second[2] is None  # "x" is no number: null here, as sent in doc


def test_a_rerun_with_other_filters_is_refused_and_rebuild_replaces_the_copy(
    destination: str,
    logs_client: LogsClient,
    client: TestClient,
    store: Store,
    customer: Customer,
    api_key: str,
) -> None:
    put(store, customer, [cdr(1, period="a"), cdr(2, period="b")])
    run(logs_client, destination, params={"period": "a"})
    with pytest.raises(SyncError, match="copy of another query.*--rebuild"):
        run(logs_client, destination, params={"period": "b"})
    assert set(copy_of(destination, "cdrs")) == {"c0001"}
    run(logs_client, destination, params={"period": "b"}, rebuild=True)
    assert copy_of(destination, "cdrs") == listing(client, CDRS, api_key, {"period": "b"})
    with open_destination(destination) as dest:
        dest.execute("CREATE TABLE mine (x TEXT)")
    with pytest.raises(SyncError, match="no sync made"):  # never replaces a table not ours
        run(logs_client, destination, table="mine", rebuild=True)


def test_a_410_names_the_rebuild_which_copies_the_feed_again(
    destination: str,
    logs_client: LogsClient,
    client: TestClient,
    store: Store,
    customer: Customer,
    api_key: str,
) -> None:
    put(store, customer, [cdr(n) for n in range(4)])
    run(logs_client, destination)
    stale = cursor_of(destination, "cdrs")
    delete_records(store, customer.id, CDRS, ["c0000", "c0001", "c0002"])  # tombstones
    assert store.prune_changes(customer.id, CDRS, before_ms=int(time.time() * 1000) + 1, limit=9)
    with pytest.raises(SyncError, match="410.*--rebuild"):
        run(logs_client, destination)
    assert cursor_of(destination, "cdrs") == stale  # nothing moved
    run(logs_client, destination, rebuild=True)
    assert copy_of(destination, "cdrs") == listing(client, CDRS, api_key)
    assert set(copy_of(destination, "cdrs")) == {"c0003"}


def test_a_record_twice_in_a_first_copy_keeps_its_last_state(destination: str) -> None:
    """A record changed while the first copy runs comes again in a later page; a page
    rolled back or a row deleted leaves nothing behind (DuckDB inserts a new table's pages
    without a conflict check while none of their ids was written before)."""
    columns = table_columns(CDRS)

    def page(*docs: dict[str, object]) -> list[list[object]]:
        changes = [{"op": "upsert", "id": d["callid"], "item": d} for d in docs]
        return column_values(columns, changes)

    with open_destination(destination) as dest:
        with dest.transaction():
            dest.create("cdrs", columns)
            dest.upsert("cdrs", columns, page(cdr(1), cdr(2)))
        with pytest.raises(RuntimeError), dest.transaction():
            dest.upsert("cdrs", columns, page(cdr(3)))
            raise RuntimeError
        with dest.transaction():
            dest.upsert("cdrs", columns, page(cdr(2, period="later"), cdr(3), cdr(4)))
            dest.delete("cdrs", ["c0004"])
            dest.upsert("cdrs", columns, page(cdr(4, period="back")))
    copy = copy_of(destination, "cdrs")
    assert copy == {
        "c0001": cdr(1),
        "c0002": cdr(2, period="later"),
        "c0003": cdr(3),
        "c0004": cdr(4, period="back"),
    }
