"""``consume --workers N``: N processes share one durable JetStream consumer, or one
RabbitMQ queue. Every message is stored exactly once, and each worker did some of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from atende_logs.kinds import CDRS
from atende_logs.models import Customer
from atende_logs.storage import Store
from bench.consume import free_ports

CLI = str(Path(sys.executable).with_name("atende-logs"))
WORKERS = 3


def scrape(port: int) -> dict[str, float]:
    """A worker's counters: messages acknowledged, records stored (new) and replaced."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "atende_consume_messages_total":
                found["messages"] = sample.value
            elif sample.name == "atende_consume_records_total":
                found[sample.labels["outcome"]] = sample.value
    return found


def until(condition: Callable[[], bool], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def total(client: TestClient, api_key: str) -> int:
    response = client.get(CDRS.path, params={"size": 1}, headers={"x-api-key": api_key})
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
    except httpx.HTTPError:
        return False
    return True


def test_n_workers_share_the_stream_and_store_each_message_once(
    broker: Any,
    database_url: str,
    client: TestClient,
    store: Store,
    customer: Customer,
    api_key: str,
) -> None:
    port = free_ports(WORKERS)
    command = [CLI, "consume", "--broker", broker.url, "--prefix", broker.prefix]
    command += ["--workers", str(WORKERS), "--metrics-port", str(port)]
    command += ["--batch", "5", "--wait", "0.2"]
    worker = subprocess.Popen(
        command,
        env={**os.environ, "ATENDE_DATABASE_URL": database_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    messages, per = 150, 4
    try:
        # Every worker up (it serves its metrics before it connects) before the first
        # message: none of them may take it all before the others are there.
        until(lambda: all(answers(port + i) for i in range(WORKERS)))
        where = f"{broker.prefix}.logs.{customer.id}.cdrs"
        broker.publish(
            [
                (where, b"".join(orjson.dumps(_cdr(n)) + b"\n" for n in range(i, i + per)))
                for i in range(0, messages * per, per)
            ]
        )
        until(lambda: total(client, api_key) == messages * per)
        until(lambda: sum(scrape(port + i).get("messages", 0) for i in range(WORKERS)) == messages)
        counts = [scrape(port + i) for i in range(WORKERS)]
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=60)
    assert worker.returncode == 0, errors.decode()
    assert all(c.get("messages", 0) > 0 for c in counts), counts
    # No message was handled twice: each record was stored new by exactly one worker.
    assert sum(c.get("stored", 0) for c in counts) == messages * per, counts
    assert sum(c.get("replaced", 0) for c in counts) == 0, counts
    listed = client.get(CDRS.path, params={"size": 1000}, headers={"x-api-key": api_key}).json()[
        "items"
    ]
    assert sorted(item["callid"] for item in listed) == sorted(
        f"w{n}" for n in range(messages * per)
    )
    assert broker.waiting()[:2] == (0, 0)


def _cdr(n: int) -> dict[str, Any]:
    moment = f"2021-06-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z"
    return {"callid": f"w{n}", "ori_start_time": moment, "has_audio": False}
