"""What a customer waits for over a real link: ``atende-logs pull`` through a shaped link.

    sudo .venv/bin/python -m bench.wan --rows 1000000

The server and the client each run in a network namespace this bench creates (``atlz-srv``,
``atlz-cli``), joined by a veth pair whose two ends shape what they send with ``tc … tbf``
(``netem`` is not available here): 50 and 10 Mbit/s. No address outside those two namespaces
is used, and both are deleted at the end, on failure too.

The data: one month (bench.common.MONTH) of the bench's big customer's CDRs, drawn from the
suite's generator (bench.data) for ``--rows``, loaded into a SQLite file of the work
directory (kept and reused): a page's read costs about the same whatever else the database
holds. The pull asks for that month, once without compression and once with it, at each
rate. Printed: the pull's time, the bytes the server sent on the link, the server's CPU per
page, and the time the compressed bytes alone need at that rate.

Needs root (``ip netns``); ``--keep`` leaves the namespaces up for a look.
``--baseline-src DIR`` also runs each pull with the client of another checkout's ``src``
(``git worktree add --detach ../base main``), in the same run, for a before/after.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from atende_logs.config import Settings
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.readers import Record
from atende_logs.kinds import CDRS
from atende_logs.storage import open_store
from atende_logs.storage.migrate import upgrade
from bench.common import BIG, MONTH, ZONE, child_env, console
from bench.data import _documents, recipes
from bench.server import Server, cli_path, cpu_seconds, tree

SERVER_NS, CLIENT_NS = "atlz-srv", "atlz-cli"
SERVER_DEV, CLIENT_DEV = "atlz-s", "atlz-c"
SERVER_IP, CLIENT_IP = "10.217.17.1", "10.217.17.2"
"""Addresses of the two namespaces' ends of the veth pair, and nowhere else."""
PORT = 8017
PAGE = 1000


@dataclass(frozen=True)
class Loaded:
    url: str
    key: str
    docs: int


@dataclass(frozen=True)
class Run:
    client: str
    rate_mbit: int
    compressed: bool
    seconds: float
    items: int
    wire_bytes: int
    server_cpu_ms_per_page: float

    def link_seconds(self) -> float:
        """What these bytes alone need at this rate."""
        return self.wire_bytes * 8 / (self.rate_mbit * 1e6)


def _month_ms() -> tuple[int, int]:
    """The month's bounds with a day's margin on each side, in epoch ms (what is loaded)."""
    first = datetime.fromisoformat(MONTH[0]).replace(tzinfo=ZONE)
    last = datetime.fromisoformat(MONTH[1]).replace(tzinfo=ZONE)
    day = 86_400_000
    return int(first.timestamp() * 1000) - day, int(last.timestamp() * 1000) + 2 * day


def _in_month(docs: Iterator[dict[str, object]]) -> Iterator[dict[str, object]]:
    lo, hi = _month_ms()
    for doc in docs:
        when = datetime.fromisoformat(str(doc[CDRS.time_field]))
        if lo <= int(when.astimezone(UTC).timestamp() * 1000) < hi:
            yield doc


def load(workdir: Path, rows: int) -> Loaded:
    """The month of the big customer at ``rows``, in a SQLite file reused while it exists."""
    path = workdir / f"wan-{rows}.db"
    manifest = path.with_suffix(".json")
    url = f"sqlite:///{path}"
    if manifest.exists() and path.exists():
        saved = json.loads(manifest.read_text())
        console.print(f"wan: reusing {path} ({saved['docs']:,} CDRs)")
        return Loaded(url, saved["key"], saved["docs"])
    path.unlink(missing_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    big = recipes(rows)[0]
    with console.status(f"wan: drawing {big.rows:,} CDRs of {BIG} for one month"):
        docs = list(_in_month(_documents(big, "cdrs")))
    drawn = time.monotonic() - began
    upgrade(url)
    store = open_store(Settings(database_url=url))
    try:
        customer = store.create_customer(BIG)
        _, key = store.create_api_key(customer.id)
        records = [Record(n + 1, doc, None) for n, doc in enumerate(docs)]
        result = ingest(store, customer.id, CDRS, records, zone=ZONE, batch_size=10_000)
    finally:
        store.close()
    console.print(
        f"wan: {result.stored:,} CDRs loaded ({drawn:.0f} s to draw them, "
        f"{time.monotonic() - began - drawn:.0f} s to load)"
    )
    manifest.write_text(json.dumps({"key": key, "docs": result.stored}))
    return Loaded(url, key, result.stored)


def _ip(*args: str, ns: str | None = None) -> str:
    command = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return done.stdout


def make_link() -> None:
    _ip("ip", "netns", "add", SERVER_NS)
    _ip("ip", "netns", "add", CLIENT_NS)
    _ip("ip", "link", "add", SERVER_DEV, "netns", SERVER_NS, "type", "veth",
        "peer", "name", CLIENT_DEV, "netns", CLIENT_NS)  # fmt: skip
    for ns, dev, address in (
        (SERVER_NS, SERVER_DEV, SERVER_IP),
        (CLIENT_NS, CLIENT_DEV, CLIENT_IP),
    ):
        _ip("ip", "addr", "add", f"{address}/30", "dev", dev, ns=ns)
        _ip("ip", "link", "set", dev, "up", ns=ns)
        _ip("ip", "link", "set", "lo", "up", ns=ns)


def shape(rate_mbit: int) -> None:
    """Both ends send at ``rate_mbit``: a bucket of 1 ms at that rate (at least 2 packets'
    worth, so TSO-sized packets pass) and a queue of 50 ms."""
    burst = max(rate_mbit * 1_000_000 // 8 // 1000, 2 * 65_536)
    for ns, dev in ((SERVER_NS, SERVER_DEV), (CLIENT_NS, CLIENT_DEV)):
        _ip("tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{rate_mbit}mbit",
            "burst", str(burst), "latency", "50ms", ns=ns)  # fmt: skip


def remove_link() -> None:
    for ns in (SERVER_NS, CLIENT_NS):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # the veth goes too


def sent_bytes() -> int:
    return int(_ip("cat", f"/sys/class/net/{SERVER_DEV}/statistics/tx_bytes", ns=SERVER_NS))


class NamespacedServer(Server):
    """``atende-logs serve`` inside the server's namespace: up once its log says so (this
    process cannot reach it to ask)."""

    def __init__(self, database_url: str, log: Path) -> None:
        command = ["ip", "netns", "exec", SERVER_NS, str(cli_path()), "serve"]
        super().__init__(database_url, log, "--host", SERVER_IP, command=command,
                         env=child_env(database_url))  # fmt: skip
        self._argv[self._argv.index("--port") + 1] = str(PORT)
        self.url = f"http://{SERVER_IP}:{PORT}"

    def _answers(self) -> bool:
        with self.log.open("rb") as log:
            log.seek(self._log_start)
            return b"Application startup complete." in log.read()


def pull(
    server: Server,
    loaded: Loaded,
    rate: int,
    compressed: bool,
    out: Path,
    baseline_src: Path | None = None,
) -> Run:
    """One pull of the month; ``baseline_src``: with the client of that source tree."""
    out.unlink(missing_ok=True)
    command = [
        "ip", "netns", "exec", CLIENT_NS, str(cli_path()), "pull", "cdrs",
        "--url", server.url, "--allow-insecure-http", "--start-at", MONTH[0],
        "--end-at", MONTH[1], "-o", str(out), "--json", "--restart",
        "--compress" if compressed else "--no-compress",
    ]  # fmt: skip
    env = {**child_env(loaded.url), "ATENDE_API_KEY": loaded.key}
    if baseline_src is not None:
        env["PYTHONPATH"] = str(baseline_src)  # ahead of the virtualenv's editable install
    cpu, wire = cpu_seconds(tree(server.pid)), sent_bytes()
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"the pull failed: {done.stderr.decode(errors='replace')[-2000:]}")
    cpu = cpu_seconds(tree(server.pid)) - cpu
    items = orjson.loads(done.stdout.splitlines()[-1])["items"]
    pages = math.ceil(items / PAGE) + 1  # and the empty page that ends it
    client = "baseline" if baseline_src else "this"
    return Run(client, rate, compressed, seconds, items, sent_bytes() - wire, cpu * 1000 / pages)


def startup_seconds(baseline_src: Path | None = None) -> float:
    """The client's own start, which every pull's time includes: ``pull --help``."""
    command = ["ip", "netns", "exec", CLIENT_NS, str(cli_path()), "pull", "--help"]
    env = dict(os.environ)
    if baseline_src is not None:
        env["PYTHONPATH"] = str(baseline_src)
    began = time.perf_counter()
    subprocess.run(command, capture_output=True, check=True, env=env)
    return time.perf_counter() - began


def report(runs: list[Run], startups: dict[str, float]) -> str:
    """The table; ``startups``: each client's own start (``startup_seconds``), by name, which
    the last column takes off the pull's time: what is left is the pages' time."""
    lines = [
        "| client | link | compression | pull s | MB on the wire | server CPU ms/page | "
        "link time of these bytes s | speed-up | pull / link time | "
        "(pull − start-up) / link time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        plain = next(
            r
            for r in runs
            if r.rate_mbit == run.rate_mbit and not r.compressed and r.client == run.client
        )
        lines.append(
            f"| {run.client} | {run.rate_mbit} Mbit/s | {'zstd' if run.compressed else 'none'} | "
            f"{run.seconds:.2f} | {run.wire_bytes / 1e6:.1f} | "
            f"{run.server_cpu_ms_per_page:.1f} | {run.link_seconds():.2f} | "
            f"{plain.seconds / run.seconds:.1f}× | {run.seconds / run.link_seconds():.2f} | "
            f"{(run.seconds - startups[run.client]) / run.link_seconds():.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rates", default="50,10", help="Mbit/s, comma-separated")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/atende-bench-wan"))
    parser.add_argument("--keep", action="store_true", help="leave the namespaces up")
    parser.add_argument(
        "--repeat", type=int, default=1, help="compressed pulls: the best of this many"
    )
    parser.add_argument(
        "--baseline-src", type=Path, help="also pull with the client of this src directory"
    )
    args = parser.parse_args()
    loaded = load(args.workdir, args.rows)
    runs: list[Run] = []
    remove_link()  # what an interrupted run left
    make_link()
    try:
        with NamespacedServer(loaded.url, args.workdir / "wan-server.log") as server:
            warm = args.workdir / "warm.ndjson"
            startup = min(startup_seconds() for _ in range(5))
            if args.baseline_src:
                base_startup = min(startup_seconds(args.baseline_src) for _ in range(5))
            for rate in (int(r) for r in args.rates.split(",")):
                shape(rate)
                pull(server, loaded, rate, True, warm)  # the file cache and the server warm
                clients = [None, args.baseline_src] if args.baseline_src else [None]
                for baseline_src in clients:
                    for compressed in (False, True):
                        out = args.workdir / "pull.ndjson"
                        tries = args.repeat if compressed else 1  # seconds: noise matters
                        run = min(
                            (
                                pull(server, loaded, rate, compressed, out, baseline_src)
                                for _ in range(tries)
                            ),
                            key=lambda run: run.seconds,
                        )
                        console.print(run)
                        runs.append(run)
    finally:
        if not args.keep:
            remove_link()
    console.print(
        f"\n{loaded.docs:,} CDRs loaded for --rows {args.rows:,}; the client's start-up "
        f"(in each pull's time): {startup:.2f} s"
        + (f" (baseline: {base_startup:.2f} s)" if args.baseline_src else "")
        + "; pulled:\n"
    )
    startups = {"this": startup}
    if args.baseline_src:
        startups["baseline"] = base_startup
    print(report(runs, startups))


if __name__ == "__main__":
    main()
