"""Revocation takes effect on the next request in every server process (issue 5).

A real ``atende-logs serve --workers 2``: the key works in both workers, ``atende-logs keys
revoke`` (or ``ingest-keys revoke``, for a producer's key) runs in another process, and
from then on every request gets 401, in both workers.
Which worker answered is read from the kernel, not guessed: the worker that holds the
server end of the connection (``/proc/net/tcp`` and ``/proc/<pid>/fd``).
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from atende_logs.models import Customer
from atende_logs.storage import Store
from bench.server import Server, cli_path

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc to tell the workers apart"
)

WORKERS = 2
PATIENCE_S = 30.0
"""How long fresh connections are tried until every worker has answered one (each lands on
either; the second worker may still be starting)."""


@contextmanager
def serving(database_url: str, log: Path) -> Iterator[Server]:
    """``atende-logs serve --workers 2``, once it answers and both workers run."""
    with Server(database_url, log, workers=WORKERS) as server:
        deadline = time.monotonic() + 60
        while len(_children(server.pid)) < WORKERS:
            assert time.monotonic() < deadline, server.tail()
            time.sleep(0.1)
        yield server


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        if int(stat.rpartition(")")[2].split()[1]) == pid:  # the 4th field, after the name
            found.add(int(entry))
    return found


def _server_socket_inode(server_port: int, client_port: int) -> str:
    """The inode of the server end of the connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if (local_port, remote_port) == (server_port, client_port):
            return fields[9]
    raise AssertionError(f"no server end for client port {client_port}")


def _owner(inode: str, pids: set[int]) -> int:
    target = f"socket:[{inode}]"
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker holds {target}")


@dataclass(frozen=True)
class Probe:
    """The request sent again and again: by default a search with a customer key."""

    key: str
    method: str = "GET"
    path: str = "/customers/cdrs/logs?size=1"
    key_header: str = "x-api-key"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


def ingest_probe(key: str, customer_id: int) -> Probe:
    """One CDR sent with an ingest key: the same each time, so it is stored once, replaced
    after."""
    return Probe(
        key,
        "POST",
        f"/ingest/customers/{customer_id}/cdrs",
        "x-ingest-key",
        {"content-type": "application/x-ndjson"},
        b'{"callid": "revocation-probe", "ori_start_time": "2026-11-01T10:00:00-03:00"}',
    )


def statuses_by_worker(port: int, probe: Probe, candidates: set[int]) -> dict[int, set[int]]:
    """``probe`` on fresh connections until ``WORKERS`` of the ``candidates`` processes have
    answered: the statuses each worker answered."""
    seen: dict[int, set[int]] = {}
    deadline = time.monotonic() + PATIENCE_S
    headers = {**probe.headers, probe.key_header: probe.key}
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request(probe.method, probe.path, body=probe.body, headers=headers)
            client_port = connection.sock.getsockname()[1]
            status = connection.getresponse()
            status.read()
            # Kept alive: the worker still holds the server end of this connection.
            worker = _owner(_server_socket_inode(port, client_port), candidates)
        finally:
            connection.close()
        seen.setdefault(worker, set()).add(status.status)
        if len(seen) == WORKERS:
            return seen
    raise AssertionError(f"only {sorted(seen)} of {sorted(candidates)} answered")


def test_revocation_reaches_every_worker(
    database_url: str, store: Store, customer: Customer, tmp_path: Path
) -> None:
    info, key = store.create_api_key(customer.id)
    with serving(database_url, tmp_path / "server.log") as server:
        # Children of the supervisor; the spawn machinery may add a helper that serves none.
        before = statuses_by_worker(server.port, Probe(key), _children(server.pid))
        assert all(statuses == {200} for statuses in before.values()), before

        revoke = subprocess.run(
            [cli_path(), "keys", "revoke", str(info.id)],
            env={**os.environ, "ATENDE_DATABASE_URL": database_url},
            capture_output=True,
            timeout=60,
        )
        assert revoke.returncode == 0, revoke.stderr

        after = statuses_by_worker(server.port, Probe(key), set(before))
        assert after == {worker: {401} for worker in before}


def test_ingest_key_revocation_reaches_every_worker(
    database_url: str, store: Store, customer: Customer, tmp_path: Path
) -> None:
    info, key = store.create_ingest_key(f"revocation {customer.id}")
    probe = ingest_probe(key, customer.id)
    with serving(database_url, tmp_path / "server.log") as server:
        before = statuses_by_worker(server.port, probe, _children(server.pid))
        assert all(statuses == {200} for statuses in before.values()), before

        revoking_ms = time.time_ns() // 1_000_000
        revoke = subprocess.run(
            [cli_path(), "ingest-keys", "revoke", str(info.id)],
            env={**os.environ, "ATENDE_DATABASE_URL": database_url},
            capture_output=True,
            timeout=60,
        )
        assert revoke.returncode == 0, revoke.stderr
        revoked_ms = time.time_ns() // 1_000_000

        after = statuses_by_worker(server.port, probe, set(before))
        assert after == {worker: {401} for worker in before}
    listed = {k.id: k for k in store.list_ingest_keys()}
    # Stamped by the command, when it ran.
    assert revoking_ms <= (listed[info.id].revoked_at_ms or 0) <= revoked_ms
