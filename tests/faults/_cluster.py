"""The PostgreSQL cluster behind the test database, stopped and started with Debian's
``pg_ctlcluster`` (postgresql-common), as an operator or a crash would."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

LOCAL_HOSTS = {"", "127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Cluster:
    """A PostgreSQL cluster of this machine that ``pg_ctlcluster`` controls."""

    version: str
    name: str
    admin_url: str

    def ctl(self, *action: str) -> None:
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name]
        subprocess.run([*command, *action], check=True, capture_output=True, timeout=60)

    def accepts_connections(self) -> bool:
        try:
            with psycopg.connect(self.admin_url, connect_timeout=2) as connection:
                connection.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def wait_until_up(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.accepts_connections():
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL {self.version}/{self.name} did not come back")
            time.sleep(0.1)


def cluster_of(url: str) -> Cluster | str:
    """The local cluster serving ``url``, or why it cannot be controlled from here."""
    params = conninfo_to_dict(url)
    if str(params.get("host") or "") not in LOCAL_HOSTS:
        return f"PostgreSQL at {params.get('host')} is not on this machine"
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        return "pg_ctlcluster/pg_lsclusters not found (Debian's postgresql-common)"
    if os.geteuid() != 0:
        return "stopping PostgreSQL with pg_ctlcluster needs root"
    port = str(params.get("port") or "5432")
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    )
    for line in listing.stdout.splitlines():
        version, name, cluster_port, status = line.split()[:4]
        if cluster_port == port and status == "online":
            return Cluster(version, name, url)
    return f"no online cluster on port {port} in pg_lsclusters"
