"""PostgreSQL stopped (``pg_ctlcluster … stop -m immediate``: a crash, as far as the server
can tell) under query and ingest load, then started again.

While it is down every request is answered 503 with Retry-After, none waits past the
statement timeout (the client gives up a little after it: none has to); within 10 s of
PostgreSQL's return the same server process answers 200 again; every ingest it
acknowledged before, during or after the outage is stored, whole.

This stops the database every other test uses: it runs last (its own ``make test`` step),
and the ``postgres_cluster`` fixture starts PostgreSQL again whatever happens.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from faults._cluster import Cluster, cluster_of
from faults._serving import Load, ServerProcess, fresh_tenant, listed_ids, stored_ids

STATEMENT_TIMEOUT_MS = 2_000
CLIENT_TIMEOUT_S = STATEMENT_TIMEOUT_MS / 1000 + 1.5
OUTAGE_S = 6.0
RECOVERY_LIMIT_S = 10.0


def _first_success(load: Load, kind: str, since: float) -> float | None:
    """When the first request of ``kind`` started after ``since`` got its 200."""
    return min((o.ended for o in load.answers(kind, since) if o.status == 200), default=None)


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
    server = ServerProcess(
        postgres_url,
        tmp_path / "serve.log",
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
            time.sleep(1.0)
            postgres_cluster.ctl("stop", "-m", "immediate")
            down = time.monotonic()
            time.sleep(OUTAGE_S)
            restarting = time.monotonic()
            postgres_cluster.ctl("start")
            postgres_cluster.wait_until_up()
            up = time.monotonic()
            deadline = up + RECOVERY_LIMIT_S + 2.0
            while time.monotonic() < deadline and not (
                _first_success(load, "query", up) and _first_success(load, "ingest", up)
            ):
                time.sleep(0.1)
            time.sleep(1.0)  # served again: a little more load on the recovered pools
        listed = listed_ids(server.url, tenant.api_key)
    finally:
        server.stop()

    hung = [o for o in load.outcomes if o.status is None]
    assert hung == [], f"{len(hung)} requests had no answer within {CLIENT_TIMEOUT_S} s"
    assert {o.status for o in load.outcomes} <= {200, 503}
    outage = [o for o in load.outcomes if o.started >= down and o.ended <= restarting]
    assert len(outage) >= 4, "too few requests ran during the outage to tell anything"
    refused = [o for o in outage if (o.status, o.code) != (503, "database_unavailable")]
    assert refused == []
    assert all(o.retry_after for o in load.outcomes if o.status == 503)
    for kind in ("query", "ingest"):
        served = _first_success(load, kind, up)
        assert served is not None and served - up <= RECOVERY_LIMIT_S, (kind, served, up)
    load.batches.check(stored_ids(postgres_url, tenant.customer_id))
    assert load.batches.acknowledged, "no ingest was acknowledged"
    assert set(listed) == set(stored_ids(postgres_url, tenant.customer_id))
