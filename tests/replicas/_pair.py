"""A primary and its streaming replica, made for a test and removed after it.

``initdb`` makes a primary on a free loopback port; ``pg_basebackup -R`` copies it into a
replica on another, which streams from it. Both are this process's children's alone: no
other test's database is touched. As root (CI), PostgreSQL's programs run as ``postgres``,
which refuses to run as root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

BIN = Path("/usr/lib/postgresql/15/bin")


def missing() -> str | None:
    """Why no pair can be made here, or None."""
    if not (BIN / "initdb").exists():
        return f"PostgreSQL's programs are not in {BIN}"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(*command: str | Path) -> None:
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*as_postgres, *map(str, command)], check=True, capture_output=True, timeout=120)


@dataclass
class Node:
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        log = self.data.parent / f"{self.data.name}.log"
        _run(BIN / "pg_ctl", "-D", self.data, "-l", log, "-w", "-t", "60", "start")

    def stop(self) -> None:
        _run(BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def sql(self, statement: str) -> list[tuple[object, ...]]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as connection:
            cursor = connection.execute(statement)
            return cursor.fetchall() if cursor.description else []


@dataclass
class Pair:
    primary: Node
    replica: Node

    def wait_caught_up(self, timeout_s: float = 60) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        (target,) = self.primary.sql("SELECT pg_current_wal_lsn()")[0]
        deadline = time.monotonic() + timeout_s
        while True:
            (done,) = self.replica.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'")[0]
            if done:
                return
            assert time.monotonic() < deadline, "the replica never caught up"
            time.sleep(0.05)


@contextmanager
def primary_and_replica() -> Iterator[Pair]:
    base = Path(tempfile.mkdtemp(prefix="atende-replica-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    primary = Node(base / "primary", _free_port())
    replica = Node(base / "replica", _free_port())
    try:
        _run(BIN / "initdb", "-D", primary.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (primary.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {primary.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{base}'\nfsync = off\n"
            )
        primary.start()
        _run(
            BIN / "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            replica.data,
            "-R",
            "-X",
            "stream",
        )
        with (replica.data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {replica.port}\n")
        replica.start()
        yield Pair(primary, replica)
    finally:
        for node in (replica, primary):
            if node.running():
                try:
                    node.stop()
                except subprocess.CalledProcessError:
                    pass
        shutil.rmtree(base, ignore_errors=True)
