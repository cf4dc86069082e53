"""kill -9 of a real server in the middle of HTTP ingestion, on both databases.

A producer sends 1,000 small batches, each retried on connection errors until the server
acknowledges it; meanwhile the server (supervisor and workers) is killed -9 at moments drawn
from a fixed seed and started again on the same port. While it is dead, the table is read
directly: the batch that was in flight is there whole or not at all. At the end every
acknowledged batch is stored whole, each record once, and none in part.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx

from bench.server import Server
from faults._serving import (
    Batches,
    Tenant,
    batch_body,
    fresh_tenant,
    listed_ids,
    stored_ids,
)

BATCHES = 1_000
RECORDS_PER_BATCH = 5
SEED = 20261127
KILLS = 3


def _produce(server: Server, tenant: Tenant, batches: Batches) -> None:
    """The producer: each batch in turn, retried until acknowledged."""
    path = f"/ingest/customers/{tenant.customer_id}/attendant-logs"
    headers = {"x-ingest-key": tenant.ingest_key, "content-type": "application/x-ndjson"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        for number in range(BATCHES):
            body = batch_body(number, RECORDS_PER_BATCH)
            with batches.lock:
                batches.in_flight = number
            while True:
                try:
                    response = client.post(path, content=body)
                except httpx.TransportError:
                    batches.retries += 1
                    time.sleep(0.02)
                    continue
                if response.status_code != 200:
                    batches.unexpected.append(f"{response.status_code} {response.text}")
                    return
                break
            with batches.lock:
                batches.acknowledged.add(number)
                batches.in_flight = None


def test_acknowledged_batches_survive_kill_9_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    tenant = fresh_tenant(database_url)
    rng = random.Random(SEED)
    # After how many acknowledgements each kill comes, and how far into the next request.
    kills = sorted(rng.sample(range(50, BATCHES - 100), KILLS))
    batches = Batches(RECORDS_PER_BATCH)
    server = Server(database_url, tmp_path / "serve.log", workers=2)
    server.start()
    producer = threading.Thread(target=_produce, args=(server, tenant, batches))
    try:
        producer.start()
        for after in kills:
            while len(batches.acknowledged) < after and producer.is_alive():
                time.sleep(0.001)
            time.sleep(rng.uniform(0, 0.01))
            server.kill()
            # Dead server, table as the kill left it: whole batches only, none acknowledged lost.
            batches.check(stored_ids(database_url, tenant.customer_id))
            server.start()
        producer.join(timeout=120)
        assert not producer.is_alive(), "the producer did not finish"
        assert not batches.unexpected, batches.unexpected
        assert batches.acknowledged == set(range(BATCHES)), "the producer stopped early"
        # Each kill cost the producer at least one failed attempt: it was mid-stream.
        assert batches.retries >= KILLS
        listed = listed_ids(server.url, tenant.api_key)
    finally:
        server.stop()
        producer.join(timeout=30)
    batches.check(stored_ids(database_url, tenant.customer_id))
    assert listed == stored_ids(database_url, tenant.customer_id)
    assert sum(listed.values()) == BATCHES * RECORDS_PER_BATCH
