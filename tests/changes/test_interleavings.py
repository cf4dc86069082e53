"""Hypothesis drives random interleavings of inserts, replacements (filter-crossing ones
included), identical resends, erasures and retention removals against consumers with random
page sizes and filters: whenever a consumer has caught up, its copy is exactly the list
endpoint's answer for the same filters (issue 16), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CDRS
from atende_logs.storage import Store
from changes._consumer import Consumer, listing

BASE_MS = 1_700_000_000_000
STEP_MS = 12 * 86_400_000
"""Times 12 days apart: ten of them span four months, so a record sent again at another
time moves between PostgreSQL's monthly partitions, and retention crosses them."""
PHONES = ["(11) 98765-4321", "(21) 99999-0000"]
IDS = [f"c{n}" for n in range(12)]

documents = st.fixed_dictionaries(
    {
        "callid": st.sampled_from(IDS),
        "ori_start_time": st.integers(0, 9).map(lambda n: BASE_MS + n * STEP_MS),
        "period": st.sampled_from(["worktime", "holiday"]),
        "alt_dnis": st.sampled_from([*PHONES, "5531888887777"]),
        "my_status_name": st.sampled_from(["a", "b"]),
    }
)
operations = st.one_of(
    st.tuples(st.just("write"), st.lists(documents, min_size=1, max_size=4)),
    st.tuples(st.just("resend"), st.none()),
    st.tuples(st.just("erase"), st.sampled_from(PHONES)),
    st.tuples(st.just("purge"), st.integers(0, 9)),
    st.tuples(st.just("pull"), st.tuples(st.integers(0, 2), st.integers(1, 5))),
    st.tuples(st.just("check"), st.integers(0, 2)),
)
filters = st.fixed_dictionaries(
    {},
    optional={
        "period": st.just("worktime"),
        "start_at": st.integers(0, 4).map(lambda n: str(BASE_MS + n * STEP_MS)),
        "end_at": st.integers(5, 9).map(lambda n: str(BASE_MS + n * STEP_MS)),
        "alt_dnis": st.just(PHONES[0]),
    },
)


@settings(max_examples=40)
@given(
    script=st.lists(operations, min_size=1, max_size=25),
    wanted=st.lists(filters, min_size=3, max_size=3),
)
def test_consumers_copies_equal_the_list(
    client: TestClient, store: Store, script: list[tuple[str, Any]], wanted: list[dict[str, str]]
) -> None:
    customer = store.create_customer("interleavings")
    key = store.create_api_key(customer.id)[1]
    consumers = [Consumer(client, CDRS, key, params) for params in wanted]
    last: list[dict[str, Any]] = []
    for operation, argument in script:
        if operation == "write":
            # One batch holds an id once: the last document of each id wins, as in a resend.
            batch = list({doc["callid"]: doc for doc in argument}.values())
            ingest(store, customer.id, CDRS, as_records(batch), zone=UTC)
            last = batch
        elif operation == "resend" and last:
            ingest(store, customer.id, CDRS, as_records(last), zone=UTC)
        elif operation == "erase":
            store.erase_phone(customer.id, argument, "hypothesis")
        elif operation == "purge":
            store.delete_before(customer.id, CDRS, BASE_MS + argument * STEP_MS, limit=3)
        elif operation == "pull":
            which, size = argument
            consumers[which].pull(size)
        elif operation == "check":
            check(client, consumers[argument], key)
    for consumer in consumers:
        check(client, consumer, key)


def check(client: TestClient, consumer: Consumer, key: str) -> None:
    """Catch ``consumer`` up (nothing is written meanwhile) and compare its copy."""
    first = len(consumer.received)
    consumer.catch_up(size=3)
    assert consumer.copy == listing(client, CDRS, key, consumer.params)
    # At most once per state: with nothing written meanwhile, a catch-up sends each record
    # once, in its latest state (a retention mark is no record's).
    caught = [c["id"] for c in consumer.received[first:] if c["op"] != "expire"]
    assert len(caught) == len(set(caught)), caught
