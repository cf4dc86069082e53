"""``python -m bench.outage --url URL --cluster 15/ci``: what requests see while PostgreSQL is
stopped, and how soon after its return they are served again (issue 18, "fail fast").

Eight threads borrow connections from one store (``ATENDE_POOL_SIZE`` 8) in a loop; the
cluster is stopped as a crash would stop it (``-m immediate``) for ``--outage`` seconds,
then started. Printed: how long each refused request waited during the outage, and the
time from the restart to the first round in which every request was served. It stops the
cluster it is given: use one of your own (``pg_createcluster 15 ci -p 5433``), never one
that others use.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from atende_logs.storage.postgres import PostgresStore

THREADS = 8


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.outage", description=__doc__)
    parser.add_argument("--url", required=True, help="a database of the cluster below")
    parser.add_argument("--cluster", required=True, help="VERSION/NAME, as pg_lsclusters")
    parser.add_argument("--outage", type=float, default=40.0, help="seconds stopped (40)")
    parser.add_argument("--timeout-ms", type=int, default=10_000, help="statement timeout")
    args = parser.parse_args()
    version, name = args.cluster.split("/")

    def ctl(*action: str) -> None:
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, *action]
        subprocess.run(command, check=True)

    store = PostgresStore(args.url, args.timeout_ms, THREADS)

    def borrow(_: int) -> tuple[bool, float]:
        started = time.monotonic()
        try:
            store.schema_revision()  # one statement on a pooled connection
            return True, time.monotonic() - started
        except Exception:
            return False, time.monotonic() - started

    with ThreadPoolExecutor(THREADS) as threads:
        ctl("stop", "-m", "immediate")
        try:
            down = time.monotonic()
            waits: list[float] = []
            while time.monotonic() - down < args.outage:
                waits += [wait for _, wait in threads.map(borrow, range(THREADS))]
        finally:
            ctl("start")
        up = time.monotonic()
        while not all(ok for ok, _ in threads.map(borrow, range(2 * THREADS))):
            time.sleep(0.01)
        served = time.monotonic() - up
    store.close()
    waits.sort()
    print(
        f"outage of {args.outage:.0f} s: {len(waits)} requests refused, waited p50 "
        f"{waits[len(waits) // 2] * 1000:.1f} ms, max {waits[-1] * 1000:.0f} ms; "
        f"every request served again {served:.2f} s after the restart"
    )


if __name__ == "__main__":
    main()
