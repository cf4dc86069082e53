"""RabbitMQ restarted (``rabbitmqctl stop_app``, then ``start_app``) under a running
``atende-logs consume``: the consumer reconnects by itself, and every message published
before and after is stored exactly once (issue 19; the NATS case, on a server of the test's
own: tests/consume/test_consume_faults.py).

It restarts the machine's RabbitMQ, which only this folder's step of ``make test`` may do:
nothing else runs then.
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

import orjson
import pytest
from fastapi.testclient import TestClient

from _brokers import AMQP_URL, Rabbit, new_prefix, reachable, require
from atende_logs.kinds import CDRS
from atende_logs.models import Customer

CLI = str(Path(sys.executable).with_name("atende-logs"))
PER = 5
"""Records a message."""


def _cdr(n: int) -> dict[str, Any]:
    return {"callid": f"rr{n:06d}", "ori_start_time": 1_620_000_000_000 + n * 1000}


def _publish(broker: Rabbit, customer: int, start: int, messages: int) -> None:
    where = f"{broker.prefix}.logs.{customer}.cdrs"
    broker.publish(
        [
            (where, b"".join(orjson.dumps(_cdr(n)) + b"\n" for n in range(i, i + PER)))
            for i in range(start, start + messages * PER, PER)
        ]
    )


def _total(client: TestClient, api_key: str) -> int:
    response = client.get(CDRS.path, params={"size": 1}, headers={"x-api-key": api_key})
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def _until(what: str, condition: Any, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds:.0f} s for {what}"
        time.sleep(0.1)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture
def rabbit() -> Iterator[Rabbit]:
    require(AMQP_URL)
    if shutil.which("rabbitmqctl") is None or os.geteuid() != 0:
        why = "restarting RabbitMQ needs rabbitmqctl and root"
        if os.environ.get("ATENDE_REQUIRE_BROKERS") == "1":
            pytest.fail(f"ATENDE_REQUIRE_BROKERS=1 but {why}")
        pytest.skip(why)
    broker = Rabbit(AMQP_URL, new_prefix())
    yield broker
    if not reachable(AMQP_URL):  # whatever happened, leave the broker running
        _rabbitmqctl("start_app")
        _rabbitmqctl("await_startup")
    broker.cleanup()


def test_rabbitmq_restarted_under_the_consumer(
    rabbit: Rabbit, database_url: str, client: TestClient, customer: Customer, api_key: str
) -> None:
    _publish(rabbit, customer.id, 0, 20)
    env = {**os.environ, "ATENDE_DATABASE_URL": database_url}
    worker = subprocess.Popen(
        [CLI, "consume", "--broker", AMQP_URL, "--prefix", rabbit.prefix, "--batch", "5",
         "--wait", "0.2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _until("the first 100 records", lambda: _total(client, api_key) == 20 * PER)
        _rabbitmqctl("stop_app")
        time.sleep(1)  # down for a moment, as a restart is
        _rabbitmqctl("start_app")
        _rabbitmqctl("await_startup")
        _publish(rabbit, customer.id, 20 * PER, 20)
        _until("the 100 published after the restart", lambda: _total(client, api_key) == 40 * PER)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=60)
    assert worker.returncode == 0, errors.decode()
    assert rabbit.waiting()[:2] == (0, 0)
