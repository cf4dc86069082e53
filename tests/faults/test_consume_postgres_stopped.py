"""PostgreSQL stopped (``-m immediate``, a crash) and started again under a running
``atende-logs consume``, on each broker. While it is down the consumer acknowledges
nothing it could not store, backs off, and resumes by itself; in the end every message
published is stored exactly once, and nothing acknowledged is missing.

The cluster is this test's own (15/brk on port 5434, made if missing, dropped at the end):
the clusters on 5432 and 5433 serve everyone else and are never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from _brokers import AMQP_URL, NATS_URL, Nats, Rabbit, new_prefix, require
from atende_logs.config import Settings
from atende_logs.storage import open_store
from atende_logs.storage.migrate import upgrade
from bench.server import free_port
from faults._cluster import Cluster
from faults._serving import BASE_MS, attendant_log, stored_ids, wait_for

VERSION, NAME, PORT = "15", "brk", 5434
URL = f"postgresql://postgres@127.0.0.1:{PORT}/postgres"
CLI = str(Path(sys.executable).with_name("atende-logs"))
PER = 5
"""Records a message."""


def _why_not() -> str | None:
    for tool in ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "pg_lsclusters"):
        if shutil.which(tool) is None:
            return f"{tool} not found (Debian's postgresql-common)"
    if os.geteuid() != 0:
        return "making and stopping a PostgreSQL cluster needs root"
    return None


def _exists() -> bool:
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    )
    return any(line.split()[:2] == [VERSION, NAME] for line in listing.stdout.splitlines())


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """15/brk on 5434, migrated; dropped afterwards whatever happened. Fails instead of
    skipping where ATENDE_REQUIRE_POSTGRES=1 (CI)."""
    why = _why_not()
    if why is not None:
        if os.environ.get("ATENDE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"ATENDE_REQUIRE_POSTGRES=1 but no cluster of our own: {why}")
        pytest.skip(why)
    if not _exists():
        subprocess.run(
            ["pg_createcluster", VERSION, NAME, "-p", str(PORT), "--", "--auth=trust"],
            check=True,
            capture_output=True,
            timeout=120,
        )
    cluster = Cluster(VERSION, NAME, URL)
    try:
        if not cluster.accepts_connections():
            cluster.ctl("start")
        cluster.wait_until_up()
        upgrade(URL)
        yield cluster
    finally:
        subprocess.run(
            ["pg_dropcluster", "--stop", VERSION, NAME], check=False, capture_output=True
        )


@pytest.fixture(params=["nats", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[Any]:
    made: Nats | Rabbit
    if request.param == "nats":
        require(NATS_URL)
        made = Nats(NATS_URL, new_prefix())
    else:
        require(AMQP_URL)
        made = Rabbit(AMQP_URL, new_prefix())
    yield made
    made.cleanup()


def publish(broker: Any, customer_id: int, first: int, count: int) -> None:
    """Messages ``first`` … ``first + count - 1``, ``PER`` attendant logs each."""
    where = f"{broker.prefix}.logs.{customer_id}.attendant-logs"
    broker.publish(
        [
            (
                where,
                b"".join(
                    orjson.dumps(attendant_log(f"m{m}-{n}", BASE_MS + m * PER + n)) + b"\n"
                    for n in range(PER)
                ),
            )
            for m in range(first, first + count)
        ]
    )


def counters(port: int) -> dict[str, float]:
    """The worker's failures (rounds given back) and messages acknowledged."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = {"failures": 0.0, "messages": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name.removeprefix("atende_consume_").removesuffix("_total")
            if name in found:
                found[name] = sample.value
    return found


@pytest.mark.postgres
def test_postgres_stopped_under_the_consumer_loses_nothing(
    own_cluster: Cluster, broker: Any
) -> None:
    store = open_store(Settings(database_url=URL))
    try:
        customer_id = store.create_customer(f"consume fault {broker.prefix}").id
    finally:
        store.close()
    port = free_port()
    command = [CLI, "consume", "--broker", broker.url, "--prefix", broker.prefix]
    command += ["--batch", "5", "--wait", "0.2", "--ack-wait", "5", "--metrics-port", str(port)]
    worker = subprocess.Popen(
        command,
        env={**os.environ, "ATENDE_DATABASE_URL": URL},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    before, during = 200, 60
    try:
        publish(broker, customer_id, 0, before)
        wait_for("the first records stored", lambda: stored_ids(URL, customer_id))
        # Acknowledged only after the commit: what was acknowledged is stored already.
        acknowledged = counters(port)["messages"]
        assert len(stored_ids(URL, customer_id)) >= acknowledged * PER
        own_cluster.ctl("stop", "-m", "immediate")
        print(f"stopped with {acknowledged:.0f} of {before} messages acknowledged")
        publish(broker, customer_id, before, during)
        wait_for("the consumer failing on the stopped database", lambda: counters(port)["failures"])
        time.sleep(3)  # rounds given back, backing off
        # Messages published during the outage cannot be stored, so none may be
        # acknowledged (a batch committed just before the stop may be, after it).
        acknowledged_down = counters(port)["messages"]
        own_cluster.ctl("start")
        own_cluster.wait_until_up()
        wait_for(
            "every message stored after the restart",
            lambda: len(stored_ids(URL, customer_id)) == (before + during) * PER,
            timeout_s=120,
        )
        wait_for("every message acknowledged", lambda: broker.waiting()[:2] == (0, 0))
        acknowledged_end = counters(port)["messages"]
    finally:
        if not own_cluster.accepts_connections():
            own_cluster.ctl("start")
            own_cluster.wait_until_up()
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=60)
    assert worker.returncode == 0, errors.decode()
    assert acknowledged_down <= before, acknowledged_down
    assert acknowledged_end >= before + during
    stored = stored_ids(URL, customer_id)
    expected = {f"m{m}-{n}" for m in range(before + during) for n in range(PER)}
    assert set(stored) == expected
    assert set(stored.values()) == {1}, "a record stored twice"
    assert broker.acknowledged() == before + during
