"""Export throughput (issue 4): every CDR of the big customer in one response, through a
real server, read by one client as fast as it goes.

E-ndjson and E-csv ask for ``format=ndjson`` and ``format=csv``; E-pages reads the same
listing the way clients did before exports, JSON pages of 1,000 passing ``after`` back. Each
reports rows/s, MB/s, the time to the first byte, the server's CPU time and its peak RSS
(the whole process tree, sampled every 100 ms) against its RSS when the run began.

They run only when named (``--queries E-ndjson,E-csv``), never by default: at full size
each reads the whole customer, which takes longer than all the page queries together.
"""

from __future__ import annotations

import http.client
import re
import time
from typing import Any
from urllib.parse import urlencode

from rich import box
from rich.table import Table

from atende_logs.config import Settings
from atende_logs.kinds import CDRS
from atende_logs.storage import open_store
from bench import database
from bench.common import BIG, Options, console, mb, server_under_test
from bench.server import RssSampler, Server, cpu_seconds

EXPORTS = ("E-ndjson", "E-csv", "E-pages")
TITLES = {
    "E-ndjson": "all the big customer's CDRs, format=ndjson",
    "E-csv": "all the big customer's CDRs, format=csv",
    "E-pages": "the same as JSON pages of 1,000 (how clients read it before exports)",
}
_READ = 1 << 20
_PAGE_HEAD = re.compile(rb'\{"total":(\d+),"after":("(?:[^"\\]|\\.)*"|\d+|null)')


def wanted(queries: tuple[str, ...] | None) -> tuple[str, ...]:
    """The export runs ``--queries`` names, in their order."""
    return tuple(name for name in EXPORTS if queries and name in queries)


def measure(
    options: Options, db: database.Target, state: database.State, names: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Each run of ``names`` in turn, on one server started for them."""
    if not names:
        return []
    store = open_store(Settings(database_url=db.url))
    try:
        _, key = store.create_api_key(state.customers[BIG])
    finally:
        store.close()
    rows: list[dict[str, Any]] = []
    with server_under_test(options, db.url) as server:
        for name in names:
            with console.status(f"exports: {name}"):
                row = _measured(server, key, name)
            rows.append(row)
            console.print(
                f"exports: {name}: {row['rows']:,} rows in {row['seconds']:.1f} s, "
                f"{row['rows_per_s']:,.0f} rows/s, {row['mb_per_s']:,.1f} MB/s, "
                f"server peak RSS {row['peak_rss_mb']:,.0f} MB"
            )
    return rows


def _measured(server: Server, key: str, name: str) -> dict[str, Any]:
    cpu_before = cpu_seconds(server.live_pids())
    with RssSampler(server) as sampler:
        began = time.perf_counter()
        if name == "E-pages":
            figures = _pages(server, key)
        else:
            figures = _export(server, key, "ndjson" if name == "E-ndjson" else "csv")
        seconds = time.perf_counter() - began
    first_byte_at = figures.pop("first_byte_at")
    return {
        "query": name,
        "kind": CDRS.name,
        **figures,
        "seconds": seconds,
        "first_byte_ms": (first_byte_at - began) * 1000,
        "rows_per_s": figures["rows"] / seconds,
        "mb_per_s": mb(figures["bytes"]) / seconds,
        "server_cpu_s": cpu_seconds(server.live_pids()) - cpu_before,
        "start_rss_mb": sampler.samples[0] if sampler.samples else 0.0,
        "peak_rss_mb": sampler.peak,
    }


def _export(server: Server, key: str, fmt: str) -> dict[str, Any]:
    """One export read to its end; rows counted from its line ends."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    try:
        connection.request("GET", f"{CDRS.path}?format={fmt}", headers={"x-api-key": key})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"export {fmt}: HTTP {response.status} {response.read(500)!r}")
        size, lines, first = 0, 0, 0.0
        while piece := response.read1(_READ):
            first = first or time.perf_counter()
            size += len(piece)
            lines += piece.count(b"\n")
    finally:
        connection.close()
    # CSV: the header is one line; the bench's data has no line break inside a value.
    rows = lines - 1 if fmt == "csv" else lines
    return {"rows": rows, "bytes": size, "first_byte_at": first}


def _pages(server: Server, key: str) -> dict[str, Any]:
    """Every JSON page of 1,000, each ``after`` passed back, over one keep-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    params: dict[str, str] = {"size": "1000"}
    size, first, total = 0, 0.0, 0
    try:
        while True:
            connection.request(
                "GET", f"{CDRS.path}?{urlencode(params)}", headers={"x-api-key": key}
            )
            body = connection.getresponse().read()
            first = first or time.perf_counter()
            size += len(body)
            head = _PAGE_HEAD.match(body)
            if head is None:
                raise RuntimeError(f"pages: not a page: {body[:500]!r}")
            total = int(head[1])
            if head[2] == b"null":
                break
            params["after"] = head[2].decode().strip('"')  # tokens hold no escapes
    finally:
        connection.close()
    # The pages hold every item once (the contract, tested): the total says how many.
    return {"rows": total, "bytes": size, "first_byte_at": first}


def table(rows: list[dict[str, Any]], markdown: bool) -> Table:
    table = Table(
        title="Exports: all the big customer's CDRs, one client",
        box=box.MARKDOWN if markdown else box.SIMPLE_HEAD,
    )
    columns = ["run", "rows", "MB", "s", "rows/s", "MB/s", "first byte ms", "server CPU s"]
    for i, column in enumerate([*columns, "RSS at start MB", "peak RSS MB"]):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(
            row["query"],
            f"{row['rows']:,}",
            f"{mb(row['bytes']):,.1f}",
            f"{row['seconds']:,.2f}",
            f"{row['rows_per_s']:,.0f}",
            f"{row['mb_per_s']:,.1f}",
            f"{row['first_byte_ms']:,.1f}",
            f"{row['server_cpu_s']:,.2f}",
            f"{row['start_rss_mb']:,.0f}",
            f"{row['peak_rss_mb']:,.0f}",
        )
    return table
