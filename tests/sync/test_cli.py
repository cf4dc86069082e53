"""``atende-logs sync`` as a customer runs it, against a real server on each backend: killed
with -9 at random moments while it applies a big feed, then run again, its table is exactly
the list's answer; ``--follow`` applies changes as they commit; bad destinations and a
mismatched rerun are refused clearly."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from atende_logs.cli.main import app
from atende_logs.kinds import CDRS
from atende_logs.models import Customer
from atende_logs.storage import Store
from bench.server import Server, cli_path
from changes._consumer import listing
from changes.test_feed import BASE_MS, cdr, put
from sync._copy import copy_of, cursor_of


def _until(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.parametrize("into", ["copy.duckdb", "copy.sqlite"])
def test_kill_9_at_random_moments_then_a_rerun_gives_exactly_the_list(
    into: str,
    database_url: str,
    tmp_path: Path,
    store: Store,
    customer: Customer,
    api_key: str,
    client: TestClient,
) -> None:
    put(store, customer, [cdr(n, period="a") for n in range(6000)])
    dest = str(tmp_path / into)
    rng = random.Random(16)
    env = {**os.environ, "ATENDE_API_KEY": api_key}
    with Server(database_url, tmp_path / "server.log") as server:
        args = [str(cli_path()), "sync", "cdrs", "--url", server.url, "--into", dest]
        # the kills fall while pages are written, not while Python starts: that alone takes
        # seconds on a busy machine
        began = time.monotonic()
        subprocess.run([*args, "--help"], stdout=subprocess.DEVNULL, check=True)
        start = time.monotonic() - began
        for round_ in range(4):
            process = subprocess.Popen(
                [*args, "--page-size", "50"], env=env, stdout=subprocess.DEVNULL
            )
            time.sleep(start + rng.uniform(0.5, 2.0))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            # changes while nothing syncs: replacements, removals, a filter of nothing
            put(store, customer, [cdr(rng.randrange(6000), period=f"r{round_}") for _ in range(50)])
            store.delete_before(customer.id, CDRS, BASE_MS + (round_ + 1) * 20_000, limit=5)
        assert cursor_of(dest, "cdrs") is not None, "no page was ever committed"
        done = subprocess.run(
            [*args, "--json"], env=env, capture_output=True, timeout=300, check=False
        )
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["rows"] == len(listing(client, CDRS, api_key))
    assert copy_of(dest, "cdrs") == listing(client, CDRS, api_key)


def test_follow_applies_changes_as_they_commit_and_goes_on_after_kill_9(
    database_url: str,
    tmp_path: Path,
    store: Store,
    customer: Customer,
    api_key: str,
    client: TestClient,
) -> None:
    put(store, customer, [cdr(n) for n in range(5)])
    dest = f"sqlite:///{tmp_path / 'copy.sqlite'}"  # readable while the follow writes
    env = {**os.environ, "ATENDE_API_KEY": api_key}
    with Server(database_url, tmp_path / "server.log") as server:
        args = [str(cli_path()), "sync", "cdrs", "--url", server.url, "--into", dest]
        follow = subprocess.Popen(
            [*args, "--follow"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            _until(lambda: _has(dest, 5), "the follow never caught up")
            put(store, customer, [cdr(7), cdr(1, period="x")])
            _until(lambda: _has(dest, 6), "the follow never got a live insert")
            _until(lambda: copy_of(dest, "cdrs")["c0001"].get("period") == "x", "no update")
            store.delete_before(customer.id, CDRS, BASE_MS + 500, limit=10)
            _until(lambda: "c0000" not in copy_of(dest, "cdrs"), "no live delete")
        finally:
            follow.send_signal(signal.SIGKILL)
            follow.communicate(timeout=30)
        put(store, customer, [cdr(8)])  # while nothing follows
        again = CliRunner().invoke(app, args[1:], env={"ATENDE_API_KEY": api_key})
    assert again.exit_code == 0, again.output
    assert copy_of(dest, "cdrs") == listing(client, CDRS, api_key)


def _has(dest: str, count: int) -> bool:
    try:
        return len(copy_of(dest, "cdrs")) >= count
    except Exception:  # not created yet
        return False


@pytest.mark.parametrize(
    ("into", "message"),
    [
        ("mysql://host/db", "unknown destination"),
        ("{tmp}", "is a directory"),
        ("{tmp}/missing/copy.duckdb", "is not a directory"),
        ("{tmp}/notes.duckdb", "cannot open"),
        ("postgresql://nobody@127.0.0.1:1/x", "cannot connect"),
    ],
)
def test_a_bad_destination_is_named(tmp_path: Path, into: str, message: str) -> None:
    (tmp_path / "notes.duckdb").write_text("not a database\n" * 100)
    result = CliRunner().invoke(
        app,
        ["sync", "cdrs", "--url", "http://127.0.0.1:1", "--key", "k"]
        + ["--into", into.format(tmp=tmp_path)],
    )
    assert result.exit_code == 1, result.output
    assert message in result.output


def test_a_mismatched_rerun_is_refused_with_what_to_do(
    database_url: str, tmp_path: Path, store: Store, customer: Customer, api_key: str
) -> None:
    put(store, customer, [cdr(1, period="a")])
    dest = str(tmp_path / "copy.duckdb")
    with Server(database_url, tmp_path / "server.log") as server:
        args = ["sync", "cdrs", "--url", server.url, "--into", dest]
        env = {"ATENDE_API_KEY": api_key}
        assert CliRunner().invoke(app, [*args, "--param", "period=a"], env=env).exit_code == 0
        refused = CliRunner().invoke(app, [*args, "--param", "period=b"], env=env)
        assert refused.exit_code == 1
        assert "copy of another query" in refused.output and "--rebuild" in refused.output
        rebuilt = CliRunner().invoke(app, [*args, "--param", "period=b", "--rebuild"], env=env)
        assert rebuilt.exit_code == 0, rebuilt.output
    assert copy_of(dest, "cdrs") == {}
