"""The server's PostgreSQL connections ended by the database (pg_terminate_backend) while
clients query and ingest: what a failover, an idle-session killer or an operator does.

Requests caught on a terminated connection may get 503 (retry), never 500 and never a
hang; once the ended backends are gone, the pool hands out only live connections, so every
request from then on is answered 200; and the server never holds more connections than its
pools allow. The test waits for each of these events rather than for a fixed time.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from atende_logs.storage.postgres import APPLICATION_NAME, _conninfo
from bench.server import Server
from faults._serving import Load, fresh_tenant, stored_ids, wait_for

WORKERS = 2
POOL_SIZE = 3
ROUNDS = 5
QUERIES, INGESTS = 20, 10
"""Requests of each kind answered after the recovery, before the test looks at them."""


def _terminate(admin_url: str, application_name: str) -> set[int]:
    """End every backend of the server named ``application_name``; the ones ended."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
        rows = connection.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            (application_name,),
        ).fetchall()
    return {int(pid) for pid, ended in rows if ended}


def _backends(admin_url: str, application_name: str) -> set[int]:
    """The backends serving the server named ``application_name``, dying ones included."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchall()
    return {int(pid) for (pid,) in rows}


def test_the_server_names_its_connections_unless_the_url_does() -> None:
    """How an operator (and the test below) tells the server's connections from others'."""
    url = "postgresql://u@h/db?options=-csearch_path%3Ds"
    named = conninfo_to_dict(_conninfo(f"{url}&application_name=mine", 1000))
    assert named["application_name"] == "mine"
    default = conninfo_to_dict(_conninfo(url, 1000))
    assert default["application_name"] == APPLICATION_NAME
    assert default["options"] == "-csearch_path=s -c statement_timeout=1000"


@pytest.mark.postgres
def test_terminated_connections_are_replaced_without_5xx_or_leaks(
    postgres_url: str, tmp_path: Path
) -> None:
    tenant = fresh_tenant(postgres_url)
    # A name of this server's own: other servers (other tests, other sessions) share the
    # database, and only this one's connections may be ended.
    name = f"atende-faults-{uuid.uuid4().hex[:12]}"
    server = Server(
        f"{postgres_url}&application_name={name}",
        tmp_path / "serve.log",
        workers=WORKERS,
        env={"ATENDE_POOL_SIZE": str(POOL_SIZE)},
    )
    most = WORKERS * POOL_SIZE
    ended: set[int] = set()
    held: list[int] = []  # the live connections the server held, sampled all along

    def live_or_dying() -> set[int]:
        return _backends(postgres_url, name)

    def live() -> set[int]:
        backends = _backends(postgres_url, name) - ended
        held.append(len(backends))
        return backends

    server.start()
    try:
        with Load(server.url, tenant.customer_id, tenant.api_key, tenant.ingest_key) as load:
            wait_for("a 200 to a query and to an ingest", load.served)
            for round_ in range(ROUNDS):
                # Each round ends connections the server opened since the last one ended.
                wait_for(f"a new connection before round {round_ + 1}", live)
                newly = _terminate(postgres_url, name) - ended
                assert newly, f"round {round_ + 1} found no connection of the server's to end"
                ended |= newly
            # Recovered: no backend it had is left, so none of its connections leads to one.
            wait_for("the ended backends to exit", lambda: not (live_or_dying() & ended))
            recovered = time.monotonic()

            def enough_answers() -> bool:
                live()  # sampled while the load goes on
                return (
                    len(load.answers("query", recovered)) >= QUERIES
                    and len(load.answers("ingest", recovered)) >= INGESTS
                )

            what = f"{QUERIES} queries and {INGESTS} ingests started after the recovery"
            wait_for(what, enough_answers, timeout_s=120)
        settled = live()
    finally:
        server.stop()

    failed = [o for o in load.outcomes if o.status != 200]
    # Caught on a dead connection, a request is told to retry; never a 500, never a hang.
    assert all(o.status == 503 and o.retry_after for o in failed), failed
    assert all(o.code == "database_unavailable" for o in failed), failed
    after = load.answers("query", recovered) + load.answers("ingest", recovered)
    assert [o for o in after if o.status != 200] == []
    assert max(held) <= most and 0 < len(settled) <= most, (max(held), settled)
    load.batches.check(stored_ids(postgres_url, tenant.customer_id))
