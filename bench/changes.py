"""Change feed figures (issue 16): catch-up changes/s through the API, and commit-to-delivery
latency of a long-poll and of the live tail (Server-Sent Events), p50 and p99.

``python -m bench.changes --url DATABASE_URL [--rows N]`` loads N CDRs for a new customer
(100,000 by default), reads the whole feed through the app (in-process, pages of 1,000), then
times ``--samples`` single-record commits against a consumer long-polling with ``wait=30``;
then, through a real server (``atende-logs serve``, one worker, over the same database: the
in-process client cannot stream), the same commits against a long-poll and against a live
tail held open for all of them (``--no-server`` skips it).
With ``--ingest-only`` it times the ingest of the CDRs instead: new, sent again unchanged,
then every one changed (docs/benchmarks.md, "The change feed's cost at ingest").
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi.testclient import TestClient

from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CDRS
from atende_logs.storage import Store, open_store
from atende_logs.storage.migrate import upgrade
from bench.server import Server

EXAMPLE = Path(__file__).resolve().parent.parent / "src/atende_logs/http/examples"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.changes", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--ingest-only", action="store_true")
    parser.add_argument("--no-server", action="store_true")
    args = parser.parse_args(argv)
    upgrade(args.url)
    settings = Settings(database_url=args.url)
    store = open_store(settings)
    customer = store.create_customer("bench changes")
    key = store.create_api_key(customer.id)[1]
    example = json.loads((EXAMPLE / CDRS.example_file).read_text())["items"][0]
    docs = [
        {**example, "callid": f"b{n}", "ori_start_time": 1_700_000_000_000 + n * 1000}
        for n in range(args.rows)
    ]
    if args.ingest_only:
        for label, status in [("new", "a"), ("sent again", "a"), ("changed", "b")]:
            records = list(as_records([{**doc, "my_status_name": status} for doc in docs]))
            began = time.perf_counter()
            ingest(store, customer.id, CDRS, records, zone=UTC)
            print(f"ingest, {label}: {args.rows / (time.perf_counter() - began):,.0f} docs/s")
        store.close()
        return
    ingest(store, customer.id, CDRS, as_records(docs), zone=UTC)
    headers = {"x-api-key": key}
    with TestClient(create_app(settings, store=store)) as client:
        cursor, count, began = None, 0, time.perf_counter()
        while True:
            params = {"size": "1000", **({"since": cursor} if cursor else {})}
            page = orjson.loads(
                client.get(CDRS.changes_path, params=params, headers=headers).content
            )
            count += len(page["changes"])
            cursor = page["cursor"]
            if page["end_of_stream"]:
                break
        took = time.perf_counter() - began
        print(f"catch-up: {count:,} changes in {took:.2f} s = {count / took:,.0f} changes/s")
        delays = []
        for n in range(args.samples):
            committed: list[float] = []

            def write(n: int = n, committed: list[float] = committed) -> None:
                time.sleep(0.05)
                ingest(
                    store, customer.id, CDRS, as_records([{**docs[n], "period": f"p{n}"}]), zone=UTC
                )
                committed.append(time.perf_counter())

            writer = threading.Thread(target=write)
            writer.start()
            page = client.get(
                CDRS.changes_path, params={"since": cursor, "wait": "30"}, headers=headers
            ).json()
            answered = time.perf_counter()
            writer.join()
            assert page["changes"], page
            cursor = page["cursor"]
            delays.append((answered - committed[0]) * 1000)
        _report("long-poll, in-process app", delays)
    if not args.no_server:
        commit = _committer(store, customer.id, docs)
        with tempfile.TemporaryDirectory() as directory:
            with Server(args.url, Path(directory) / "server.log") as server:
                _over_a_server(server.url, key, cursor or "", commit, args.samples)
    store.close()


def _report(label: str, delays_ms: list[float]) -> None:
    quantiles = statistics.quantiles(delays_ms, n=100)
    print(f"{label}, commit to delivery: p50 {quantiles[49]:.1f} ms, p99 {quantiles[98]:.1f} ms")


def _committer(
    store: Store, customer_id: int, docs: list[dict[str, Any]]
) -> Callable[[int], float]:
    """A function that changes one record (the n-th, a new value each call) and returns when
    its commit ended (``perf_counter``)."""
    calls = [0]

    def commit(n: int) -> float:
        calls[0] += 1
        doc = {**docs[n % len(docs)], "period": f"q{calls[0]}"}
        ingest(store, customer_id, CDRS, as_records([doc]), zone=UTC)
        return time.perf_counter()

    return commit


def _over_a_server(
    url: str, key: str, cursor: str, commit: Callable[[int], float], samples: int
) -> None:
    """Long-poll, then live tail, each against ``samples`` commits, through a real server."""
    with httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=60) as http:
        delays = []
        for n in range(samples):
            committed: list[float] = []
            writer = threading.Timer(0.05, lambda n=n, c=committed: c.append(commit(n)))
            writer.start()
            page = http.get(CDRS.changes_path, params={"since": cursor, "wait": "30"}).json()
            answered = time.perf_counter()
            writer.join()
            assert page["changes"], page
            cursor = page["cursor"]
            delays.append((answered - committed[0]) * 1000)
        _report("long-poll, real server", delays)
        arrivals: list[float] = []
        arrived = threading.Event()
        opened = threading.Event()

        def read() -> None:
            headers = {"accept": "text/event-stream", "last-event-id": cursor}
            with http.stream("GET", CDRS.changes_path, headers=headers) as response:
                for line in response.iter_lines():
                    if line.startswith(": open"):
                        opened.set()
                    elif line.startswith("data:"):
                        arrivals.append(time.perf_counter())
                        arrived.set()
                        if len(arrivals) == samples:
                            return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert opened.wait(30), "the stream never opened"
        delays = []
        for n in range(samples):
            arrived.clear()
            time.sleep(0.05)
            committed_at = commit(n)
            assert arrived.wait(30), "a change never arrived"
            delays.append((arrivals[n] - committed_at) * 1000)
        reader.join(30)
        _report("live tail (SSE), real server", delays)


if __name__ == "__main__":
    main()
