"""The client's live tail and ``atende-logs pull --changes [--follow]`` (issue 16), against a
real server on each backend: changes arrive once each, in order, across a server killed and
restarted, and a follow killed with -9 goes on from where its file stands."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from atende_logs.cli.main import app
from atende_logs.client import LogsClient, RetryPolicy
from atende_logs.client.state import state_path
from atende_logs.http.sse import iso_ms
from atende_logs.kinds import CDRS
from atende_logs.models import Customer
from atende_logs.storage import Store
from bench.server import Server, cli_path
from changes._consumer import Consumer, listing
from changes.test_feed import cdr, put

ENV = {"ATENDE_STREAM_HEARTBEAT_S": "0.3"}
FAST = RetryPolicy(attempts=50, backoff=0.05, max_backoff=0.5, give_up_after=60)


def _until(condition: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_the_tail_resumes_exactly_across_a_server_killed_and_restarted(
    database_url: str, tmp_path: Path, store: Store, customer: Customer, api_key: str
) -> None:
    put(store, customer, [cdr(n) for n in range(3)])
    got: list[dict[str, Any]] = []
    with (
        Server(database_url, tmp_path / "server.log", env=ENV) as server,
        LogsClient(server.url, api_key, retry=FAST, timeout=5) as client,
    ):
        tail = client.tail("cdrs")

        def consume() -> None:
            for change in tail:
                got.append(change)
                if len(got) == 8:
                    return

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        _until(lambda: len(got) == 3, "the history kept never came")
        put(store, customer, [cdr(3)])
        _until(lambda: len(got) == 4, "a commit never came")
        server.kill()
        put(store, customer, [cdr(4), cdr(0, period="x")])  # while the server is down
        server.start()
        _until(lambda: len(got) == 6, "no resume after the restart")
        put(store, customer, [cdr(5)])
        put(store, customer, [cdr(6)])
        reader.join(timeout=20)
        assert not reader.is_alive()
        tail.close()
    assert [c["id"] for c in got] == [f"c{n:04d}" for n in (0, 1, 2, 3, 0, 4, 5, 6)]
    assert got[4]["item"]["period"] == "x"
    assert tail.connections == 2


def test_pull_changes_follow_after_kill_9_goes_on_exactly(
    database_url: str,
    tmp_path: Path,
    store: Store,
    customer: Customer,
    api_key: str,
    client: TestClient,
) -> None:
    put(store, customer, [cdr(n) for n in range(4)])
    output = tmp_path / "cdrs.changes.ndjson"
    with Server(database_url, tmp_path / "server.log", env=ENV) as server:
        args = [str(cli_path()), "pull", "cdrs", "--url", server.url, "-o", str(output)]
        env = {**os.environ, "ATENDE_API_KEY": api_key}
        follow = subprocess.Popen(
            [*args, "--changes", "--follow", "--page-size", "3"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        state = state_path(output)
        try:
            _until(lambda: _items(state) >= 4, "the follow never caught up")
            put(store, customer, [cdr(1, period="x")])
            _until(lambda: _items(state) >= 5, "the follow never got a live change")
            store.delete_before(customer.id, CDRS, cdr(0)["ori_start_time"] + 1, limit=10)
            _until(lambda: _items(state) >= 6, "the follow never got the retention mark")
        except AssertionError as exc:
            follow.send_signal(signal.SIGKILL)
            _, stderr = follow.communicate(timeout=30)
            raise AssertionError(f"{exc}; the follow said {stderr!r}; {server.tail()}") from None
        follow.send_signal(signal.SIGKILL)
        follow.communicate(timeout=30)
        put(store, customer, [cdr(7), cdr(2, period="y")])  # while nothing follows
        again = CliRunner().invoke(
            app, [*args[1:], "--changes", "--json"], env={"ATENDE_API_KEY": api_key}
        )
        assert again.exit_code == 0, again.output
        assert orjson.loads(again.stdout)["resumed_from"] == 6
        # --follow alone is refused: a file of items cannot show replacements or removals.
        alone = CliRunner().invoke(app, [*args[1:], "--follow"], env={"ATENDE_API_KEY": api_key})
        assert alone.exit_code == 2 and "--follow needs --changes" in alone.output
    lines = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    assert [(c["op"], c.get("id")) for c in lines] == [
        ("upsert", "c0000"),
        ("upsert", "c0001"),
        ("upsert", "c0002"),
        ("upsert", "c0003"),
        ("upsert", "c0001"),
        ("expire", None),  # retention removed c0000: a mark, a line of its own
        ("upsert", "c0002"),  # one commit: in id order
        ("upsert", "c0007"),
    ]
    assert lines[5]["before"] == iso_ms(cdr(0)["ori_start_time"] + 1).decode()
    consumer = Consumer(client, CDRS, api_key)
    consumer.apply({"changes": lines, "cursor": None})  # the lines applied in order
    assert consumer.copy == listing(client, CDRS, api_key)


def _items(state: Path) -> int:
    try:
        return int(orjson.loads(state.read_bytes())["items"])
    except (FileNotFoundError, orjson.JSONDecodeError):
        return 0
