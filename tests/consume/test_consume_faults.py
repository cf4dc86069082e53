"""Faults under a real consumer process: killed with SIGKILL mid-batch, and its broker
restarted. Each time every message published is stored exactly once."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from _brokers import Nats, new_prefix
from atende_logs.kinds import CDRS
from atende_logs.models import Customer

CLI = [str(Path(sys.executable).with_name("atende-logs"))]
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def cdr(n: int) -> dict[str, Any]:
    moment = f"2021-05-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z"
    return {"callid": f"k{n}", "ori_start_time": moment, "has_audio": False}


def batch_messages(broker: Nats, customer: int, start: int, count: int, per: int) -> None:
    where = f"{broker.prefix}.logs.{customer}.cdrs"
    broker.publish(
        [
            (where, b"".join(orjson.dumps(cdr(n)) + b"\n" for n in range(i, i + per)))
            for i in range(start, start + count * per, per)
        ]
    )


def total(client: TestClient, api_key: str) -> int:
    response = client.get(CDRS.path, params={"size": 1}, headers={"x-api-key": api_key})
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def consumer(url: str, prefix: str, database_url: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ATENDE_DATABASE_URL": database_url}
    return subprocess.Popen(
        [*CLI, "consume", "--broker", url, "--prefix", prefix, "--ack-wait", "2", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def until(condition: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_consumer_killed_mid_batch_loses_nothing_and_stores_nothing_twice(
    broker: Nats, database_url: str, client: TestClient, customer: Customer, api_key: str
) -> None:
    messages, per = 200, 10
    batch_messages(broker, customer.id, 0, messages, per)
    worker = consumer(broker.url, broker.prefix, database_url, "--batch", "5", "--wait", "0.2")
    try:
        until(lambda: total(client, api_key) > 0)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.communicate()
    assert total(client, api_key) < messages * per, "killed too late to be mid-way"
    # Its messages taken and not acknowledged come back after the ack wait (2 s).
    rest = consumer(broker.url, broker.prefix, database_url, "--once", "--wait", "4")
    _, errors = rest.communicate(timeout=120)
    assert rest.returncode == 0, errors.decode()
    assert total(client, api_key) == messages * per
    assert broker.waiting()[:2] == (0, 0)


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A nats-server of this test's own (the shared one is never restarted), and a function
    restarting it on the same port and store."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path)]
    servers = [subprocess.Popen(command, stderr=subprocess.DEVNULL)]
    url = f"nats://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    until(up, 10)

    def restart() -> None:
        servers[-1].terminate()
        servers[-1].wait(10)
        time.sleep(1)  # down for a moment, as a restart is
        servers.append(subprocess.Popen(command, stderr=subprocess.DEVNULL))
        until(up, 10)

    yield url, restart
    servers[-1].terminate()
    servers[-1].wait(10)


def test_the_broker_restarted_under_the_consumer(
    own_nats: tuple[str, Any],
    database_url: str,
    client: TestClient,
    customer: Customer,
    api_key: str,
) -> None:
    url, restart = own_nats
    broker = Nats(url, new_prefix())
    batch_messages(broker, customer.id, 0, 20, 5)
    worker = consumer(url, broker.prefix, database_url, "--batch", "5", "--wait", "0.2")
    try:
        until(lambda: total(client, api_key) == 100)
        restart()
        batch_messages(broker, customer.id, 100, 20, 5)
        until(lambda: total(client, api_key) == 200)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=30)
    assert worker.returncode == 0, errors.decode()
    assert broker.waiting()[:2] == (0, 0)
