"""PostgreSQL stopped (``pg_ctlcluster … stop -m immediate``: a crash, as far as the server
can tell) under query and ingest load, then started again.

While it is down every request is answered 503 with Retry-After, none hangs; once
PostgreSQL is back the same server process answers 200 again, without a restart; every
ingest it acknowledged before, during or after the outage is stored, whole. The test waits
for each event (answers inside the outage, the first 200s after it) with generous deadlines
instead of timing them, so a loaded machine makes it slower, not red.

This stops the database every other test uses: it runs last (its own ``make test`` step),
and the ``postgres_cluster`` fixture starts PostgreSQL again whatever happens.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from bench.server import Server
from faults._cluster import Cluster, cluster_of
from faults._serving import Load, fresh_tenant, listed_ids, stored_ids, wait_for

KINDS = ("query", "ingest")
STATEMENT_TIMEOUT_MS = 10_000
"""The default: what a request would wait for its 503 if the store did not fail fast."""
CLIENT_TIMEOUT_S = 30.0
"""Far past the statement timeout: only a request the server never answers runs out."""
DURING = 2
"""Answers of each kind, started and ended inside the outage, before PostgreSQL restarts."""
OUTAGE_S = 20.0
"""Long enough for psycopg_pool's reconnection backoff (1, 2, 4, 8 s…) to leave the pool
without connections for seconds after the database is back, had the store not renewed it
(``storage._breaker``)."""
FAST_S = 2.0
"""Far below the statement timeout, far above a refusal's milliseconds on a loaded machine."""
RECOVERED_S = 8.0
"""Serving again this soon after PostgreSQL accepts connections: the backoff after a 20 s
outage would take longer (its next attempt lands up to 16 s later)."""
AFTER = 5
"""Answers of each kind on the recovered pools before the load stops."""


def _each_kind_has(load: Load, since: float, count: int) -> bool:
    return all(len(load.answers(kind, since)) >= count for kind in KINDS)


def test_a_remote_postgres_is_not_stopped_from_here() -> None:
    """Where the cluster is not this machine's, the outage test refuses (and fails in CI)."""
    assert cluster_of("postgresql://u@db.example.com:5432/x") == (
        "PostgreSQL at db.example.com is not on this machine"
    )


@pytest.mark.postgres
@pytest.mark.stops_postgres
def test_an_outage_is_503_then_served_again_without_a_restart(
    postgres_cluster: Cluster, postgres_url: str, tmp_path: Path
) -> None:
    tenant = fresh_tenant(postgres_url)
    server = Server(
        postgres_url,
        tmp_path / "serve.log",
        workers=2,
        env={"ATENDE_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS)},
    )
    server.start()
    try:
        with Load(
            server.url,
            tenant.customer_id,
            tenant.api_key,
            tenant.ingest_key,
            timeout_s=CLIENT_TIMEOUT_S,
        ) as load:
            wait_for("a 200 to a query and to an ingest", load.served)
            postgres_cluster.ctl("stop", "-m", "immediate")
            down = time.monotonic()
            wait_for(
                f"{DURING} answers of each kind inside the outage",
                lambda: _each_kind_has(load, down, DURING),
                timeout_s=120,
            )
            time.sleep(max(0.0, down + OUTAGE_S - time.monotonic()))
            restarting = time.monotonic()
            postgres_cluster.ctl("start")
            postgres_cluster.wait_until_up()
            up = time.monotonic()
            wait_for("a 200 to a query and to an ingest after the outage", lambda: load.served(up))
            served = time.monotonic()
            wait_for(
                f"{AFTER} answers of each kind on the recovered pools",
                lambda: _each_kind_has(load, served, AFTER),
            )
        listed = listed_ids(server.url, tenant.api_key)
    finally:
        server.stop()

    hung = [o for o in load.outcomes if o.status is None]
    assert hung == [], f"{len(hung)} requests had no answer within {CLIENT_TIMEOUT_S} s"
    assert {o.status for o in load.outcomes} <= {200, 503}
    outage = [o for o in load.outcomes if o.started >= down and o.ended <= restarting]
    inside = Counter(o.kind for o in outage)
    assert min(inside[kind] for kind in KINDS) >= DURING, inside
    refused = [o for o in outage if (o.status, o.code) != (503, "database_unavailable")]
    assert refused == []
    assert all(o.retry_after for o in load.outcomes if o.status == 503)
    # Failing fast: once the database is known gone, a 503 does not wait out the timeout.
    waits = sorted(o.ended - o.started for o in outage if o.started >= down + 1.0)
    print(
        f"outage: {len(outage)} answers, p50 {waits[len(waits) // 2] * 1000:.1f} ms, "
        f"max {waits[-1] * 1000:.0f} ms; served again {served - up:.2f} s after restart"
    )
    assert waits[len(waits) // 2] < FAST_S, waits
    assert served - up < RECOVERED_S
    for kind in KINDS:  # the same process served again, without a restart
        assert any(o.status == 200 for o in load.answers(kind, up)), kind
    load.batches.check(stored_ids(postgres_url, tenant.customer_id))
    assert load.batches.acknowledged, "no ingest was acknowledged"
    assert set(listed) == set(stored_ids(postgres_url, tenant.customer_id))
