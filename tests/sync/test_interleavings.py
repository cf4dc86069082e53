"""Hypothesis drives random interleavings of inserts, replacements (filter-crossing ones
included), identical resends, erasures and retention removals on the server against
``Sync`` runs with random page sizes and filters, into DuckDB, SQLite and PostgreSQL, the
server on SQLite and PostgreSQL: after every run, each table (ids and documents) is exactly
the list endpoint's answer for its filters (issue 16)."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atende_logs.client import LogsClient
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CDRS
from atende_logs.storage import Store
from atende_logs.sync import Sync, open_destination
from changes._consumer import listing
from changes.test_interleavings import BASE_MS, PHONES, STEP_MS, documents, filters
from sync._copy import copy_of

writes = st.tuples(st.just("write"), st.lists(documents, min_size=1, max_size=4))
syncs = st.tuples(st.just("sync"), st.tuples(st.integers(0, 2), st.integers(1, 5)))
# Writes and syncs twice as likely as the rest: a removal is worth testing once the copy
# holds what it removes.
operations = st.one_of(
    writes,
    writes,
    syncs,
    syncs,
    st.tuples(st.just("resend"), st.none()),
    st.tuples(st.just("erase"), st.sampled_from(PHONES)),
    st.tuples(st.just("purge"), st.integers(0, 9)),
)


# The destination (a file, or a PostgreSQL schema) is the test's; each example syncs into
# tables of its own in it, so examples never see each other's copies.
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    script=st.lists(operations, min_size=4, max_size=20),
    wanted=st.lists(filters, min_size=3, max_size=3),
)
def test_every_sync_leaves_each_table_equal_to_the_list(
    destination: str,
    client: TestClient,
    store: Store,
    script: list[tuple[str, Any]],
    wanted: list[dict[str, str]],
) -> None:
    customer = store.create_customer("sync interleavings")
    key = store.create_api_key(customer.id)[1]
    tables = [f"t{uuid.uuid4().hex[:8]}_{n}" for n in range(len(wanted))]
    last: list[dict[str, Any]] = []
    with LogsClient(
        "http://testserver", key, allow_insecure_http=True, transport=client._transport
    ) as logs:
        for operation, argument in [*script, *(("sync", (n, 1000)) for n in range(3))]:
            if operation == "write":
                # A batch holds an id once: its last document wins, as in a resend.
                batch = list({doc["callid"]: doc for doc in argument}.values())
                ingest(store, customer.id, CDRS, as_records(batch), zone=UTC)
                last = batch
            elif operation == "resend" and last:
                ingest(store, customer.id, CDRS, as_records(last), zone=UTC)
            elif operation == "erase":
                store.erase_phone(customer.id, argument, "hypothesis")
            elif operation == "purge":
                store.delete_before(customer.id, CDRS, BASE_MS + argument * STEP_MS, limit=3)
            elif operation == "sync":
                which, size = argument
                with open_destination(destination) as dest:
                    job = Sync(logs, dest, CDRS, wanted[which], tables[which])
                    for _ in job.run(size):
                        pass
                expected = listing(client, CDRS, key, wanted[which])
                assert copy_of(destination, tables[which]) == expected, (which, wanted[which])
