"""The server's PostgreSQL connections ended by the database (pg_terminate_backend) while
clients query and ingest: what a failover, an idle-session killer or an operator does.

Requests caught on a terminated connection may get 503 (retry), never 500 and never a
hang; after a short recovery window the pool has replaced the dead connections and every
answer is 200; and the server never holds more connections than its pools allow.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from atende_logs.storage.postgres import APPLICATION_NAME, _conninfo
from faults._serving import Load, ServerProcess, fresh_tenant, stored_ids

WORKERS = 2
POOL_SIZE = 3
ROUNDS = 5
RECOVERY_S = 2.0


def _terminate(admin_url: str, application_name: str) -> int:
    """End every backend of the server named ``application_name``; how many there were."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            (application_name,),
        ).fetchall()
    return sum(1 for (ended,) in rows if ended)


def _connections(admin_url: str, application_name: str) -> int:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


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
    server = ServerProcess(
        f"{postgres_url}&application_name={name}",
        tmp_path / "serve.log",
        workers=WORKERS,
        env={"ATENDE_POOL_SIZE": str(POOL_SIZE)},
    )
    most = WORKERS * POOL_SIZE
    server.start()
    try:
        with Load(server.url, tenant.customer_id, tenant.api_key, tenant.ingest_key) as load:
            time.sleep(1.0)
            terminated, peak = 0, 0
            for _ in range(ROUNDS):
                terminated += _terminate(postgres_url, name)
                peak = max(peak, _connections(postgres_url, name))
                time.sleep(0.3)
            recovered = time.monotonic() + RECOVERY_S
            while time.monotonic() < recovered + 3.0:
                peak = max(peak, _connections(postgres_url, name))
                time.sleep(0.2)
        settled = _connections(postgres_url, name)
    finally:
        server.stop()

    assert terminated >= ROUNDS, "the server's connections were not found to terminate"
    failed = [o for o in load.outcomes if o.status != 200]
    # Caught on a dead connection, a request is told to retry; never a 500, never a hang.
    assert all(o.status == 503 and o.retry_after for o in failed), failed
    assert all(o.code == "database_unavailable" for o in failed), failed
    queries, ingests = load.answers("query", recovered), load.answers("ingest", recovered)
    assert len(queries) >= 20 and len(ingests) >= 10, (len(queries), len(ingests))
    assert [o for o in queries + ingests if o.status != 200] == []
    assert peak <= most and 0 < settled <= most, (peak, settled)
    load.batches.check(stored_ids(postgres_url, tenant.customer_id))
