"""``atende-logs sync`` figures (issue 16): records/s of a first sync, through a real server,
into DuckDB, SQLite and PostgreSQL.

``python -m bench.sync [--url DATABASE_URL] [--rows N] [--into postgresql://…]`` loads N
CDRs (200,000 by default) for a new customer into the server's database (a temporary
SQLite file unless ``--url``), serves it (``atende-logs serve``, one worker), and times
``Sync`` from an empty table to the feed's end, pages of 1,000, into a DuckDB file, a
SQLite file and, with ``--into``, a PostgreSQL database (its tables are dropped first),
opening and closing the destination included.

The server's per-key rate limits are off, as in every bench (``bench.common.child_env``):
with its default quota (100 requests per 10 s) one key's feed is held to 10 pages a second,
10,000 records/s, whatever the code's speed. ``--limits`` keeps them on, to see that cap.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC
from pathlib import Path

from atende_logs.client import LogsClient
from atende_logs.config import Settings
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CDRS
from atende_logs.storage import open_store
from atende_logs.storage.migrate import upgrade
from atende_logs.sync import Sync, open_destination
from bench.server import Server

EXAMPLE = Path(__file__).resolve().parent.parent / "src/atende_logs/http/examples"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sync", description=__doc__)
    parser.add_argument("--url", help="the server's database (default: a temporary SQLite)")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--into", action="append", default=[], help="more destinations")
    parser.add_argument(
        "--limits", action="store_true", help="keep the server's default per-key rate limits"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        url = args.url or f"sqlite:///{folder / 'server.db'}"
        upgrade(url)
        store = open_store(Settings(database_url=url))
        customer = store.create_customer("bench sync")
        key = store.create_api_key(customer.id)[1]
        example = json.loads((EXAMPLE / CDRS.example_file).read_text())["items"][0]
        docs = (
            {**example, "callid": f"s{n}", "ori_start_time": 1_700_000_000_000 + n * 1000}
            for n in range(args.rows)
        )
        ingest(store, customer.id, CDRS, as_records(docs), zone=UTC)
        store.close()
        targets = [str(folder / "copy.duckdb"), f"sqlite:///{folder / 'copy.sqlite'}", *args.into]
        limits = {} if args.limits else {"ATENDE_RATE_LIMIT_ENABLED": "false"}
        with (
            Server(url, folder / "server.log", env=limits) as server,
            LogsClient(server.url, key) as client,
        ):
            # The ceiling: the same pages read and parsed, written nowhere.
            began = time.perf_counter()
            read = sum(len(changes) for changes, _ in client.change_pages(CDRS))
            took = time.perf_counter() - began
            print(f"the feed alone: {read:,} changes in {took:.1f} s = {read / took:,.0f}/s")
            for target in targets:
                with open_destination(target) as destination:
                    with destination.transaction():
                        destination.drop("cdrs")
                began, cpu = time.perf_counter(), time.process_time()
                # opening and closing timed too: DuckDB writes its last checkpoint on closing
                with open_destination(target) as destination:
                    for _ in Sync(client, destination, CDRS).run():
                        pass
                took, cpu = time.perf_counter() - began, time.process_time() - cpu
                with open_destination(target) as destination:
                    rows = destination.count("cdrs")
                assert rows == args.rows, (rows, args.rows)
                kind = type(destination).__name__.removesuffix("Destination")
                # The machine is shared: the CPU this process spent (client and destination
                # driver; the server is another process) and the load say how far the wall
                # clock figure is the code's.
                print(
                    f"sync into {kind}: {rows:,} records in {took:.1f} s = {rows / took:,.0f}/s; "
                    f"{cpu / rows * 1e6:.0f} ms CPU per 1,000 in this process; "
                    f"load {os.getloadavg()[0]:.1f}"
                )


if __name__ == "__main__":
    main()
