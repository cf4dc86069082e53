"""``python -m bench``: generate, load (timing ingest), then measure every query against its floor.

Run from the repository root with the project's virtualenv; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path
from typing import Any

from atende_logs.allocator import keep_freed_memory
from atende_logs.config import Settings
from atende_logs.storage import open_store
from bench import database, export, ingest
from bench.bare import bare_server
from bench.common import BIG, HTTP_LOADED, KINDS, Options, console, server_under_test
from bench.data import CustomerData, drop_data, ensure_data, head, recipes
from bench.load import (
    Budget,
    FloorPool,
    api_latency,
    api_throughput,
    floor_latency,
    http_latency,
    wrk_path,
)
from bench.queries import ORDER, Query, build
from bench.report import meta, save, show, src_state, targets
from bench.server import RssSampler

FULL_ROWS = {"sqlite": 1_000_000, "postgresql": 10_000_000}
"""The issue's sizes: rows per kind in the table."""


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--rows",
        type=int,
        help="documents of each kind in the table (default: 1,000,000 on SQLite, "
        "10,000,000 on PostgreSQL; 20,000 with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a fast smoke run: 20,000 rows, 3 s concurrent runs, 50 latency requests",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/atende-bench"))
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--schema", default="atende_bench", help="PostgreSQL schema to use")
    parser.add_argument("--duration", type=float, help="seconds per concurrent run (10; quick 3)")
    parser.add_argument("--requests", type=int, help="requests per latency run (200; quick 50)")
    parser.add_argument(
        "--latency-budget",
        type=float,
        help="a latency run stops after this many seconds (20; quick 5), with 10 samples at least",
    )
    parser.add_argument(
        "--keep", action="store_true", help="reuse the database a previous run loaded"
    )
    parser.add_argument(
        "--queries",
        help=f"comma-separated subset of {','.join(ORDER)}; 'none' for ingest only; "
        f"{','.join(export.EXPORTS)} (exports) run only when named",
    )
    parser.add_argument(
        "--drop-data",
        action="store_true",
        help="delete each kind's generated files once loaded (the 10M run does not fit "
        "on disk with both kinds' files and the database)",
    )
    parser.add_argument(
        "--floor-docs",
        type=int,
        help="measure the ingest floor on at most this many documents per kind (default all)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--floor-workers", type=int, default=8, help="floor processes (8)")
    parser.add_argument(
        "--serve-args", default="", help='extra arguments of atende-logs serve ("--workers 2")'
    )
    args = parser.parse_args(argv)
    wanted: tuple[str, ...] | None = None
    if args.queries:
        wanted = () if args.queries == "none" else tuple(args.queries.split(","))
        unknown = set(wanted) - set(ORDER) - set(export.EXPORTS)
        if unknown:
            known = ", ".join([*ORDER, *export.EXPORTS])
            parser.error(f"unknown queries {sorted(unknown)}; known: {known}")
    quick = args.quick
    return Options(
        db=args.db,
        rows=args.rows or (20_000 if quick else FULL_ROWS[args.db]),
        workdir=args.workdir,
        postgres_url=args.postgres_url,
        schema=args.schema,
        duration=args.duration or (3.0 if quick else 10.0),
        requests=args.requests or (50 if quick else 200),
        latency_budget=args.latency_budget or (5.0 if quick else 20.0),
        keep=args.keep,
        drop_data=args.drop_data,
        floor_docs=args.floor_docs,
        queries=wanted,
        markdown=args.markdown,
        wrk_threads=args.wrk_threads,
        floor_workers=args.floor_workers,
        serve_args=tuple(shlex.split(args.serve_args)),
    )


def load(options: Options, db: database.Target) -> database.State:
    """Generate the data set, load it through the project's import path, time all of it."""
    database.reset(db)
    store = open_store(Settings(database_url=db.url))
    try:
        customers = {r.name: store.create_customer(r.name).id for r in recipes(options.rows)}
    finally:
        store.close()
    figures: dict[str, Any] = {"kinds": {}}
    for kind in KINDS:
        data = ensure_data(options.workdir, options.rows, kind)
        loads = [(customers[c.name], c.files[kind]) for c in data if (c.name, kind) != HTTP_LOADED]
        imported = ingest.import_all(db, loads)
        figures["kinds"][kind] = {
            "import": imported,
            "reimport": _reimport(options, db, data[0], customers[BIG], kind),
            "floor": ingest.floor(db, kind, loads, options.floor_docs),
        }
        if kind == HTTP_LOADED[1]:
            figures["http"] = _http_ingest(options, db, data, customers)
        if options.drop_data:
            drop_data(options.workdir, options.rows, kind)
    settled = database.settle(db)
    figures["database_mb"] = database.size_mb(db)
    state = database.State(options.db, options.rows, customers, {**figures, "settle": settled})
    database.save_state(db, state)
    return state


def _reimport(
    options: Options, db: database.Target, big: CustomerData, customer_id: int, kind: str
) -> dict[str, Any]:
    """Importing again a slice of the big customer's file: every document is replaced."""
    docs = max(1_000, min(100_000, options.rows // 10))
    source = big.files[kind]
    part = head(source, docs, source.path.with_name(f"slice-{kind}-{docs}.ndjson"))
    result = ingest.run_import(db, part, customer_id)
    if result["replaced"] != part.docs:
        console.print(f"[red]re-import replaced {result['replaced']} of {part.docs}[/red]")
    console.print(f"ingest: re-import of {part.docs:,} {kind}: {result['docs_per_s']:,.0f} docs/s")
    return result


def _http_ingest(
    options: Options, db: database.Target, data: list[CustomerData], customers: dict[str, int]
) -> dict[str, Any]:
    name, kind = HTTP_LOADED
    source = next(c for c in data if c.name == name).files[kind]
    store = open_store(Settings(database_url=db.url))
    try:
        _, key = store.create_ingest_key("bench http")
    finally:
        store.close()
    with server_under_test(options, db.url) as server, RssSampler(server) as sampler:
        result = ingest.http_ingest(server.url, key, customers[name], source)
    console.print(f"ingest: HTTP {kind}: {result['docs_per_s']:,.0f} docs/s")
    return {**result, "kind": kind, "peak_rss_mb": sampler.peak}


def measure(options: Options, db: database.Target, state: database.State) -> list[dict[str, Any]]:
    """Every query through the API (one client, wrk 8 and 32) and at its floor."""
    keep_freed_memory()  # the server's allocator settings, for the floor run in this process
    budget = Budget(options.requests, options.latency_budget, options.duration)
    big = state.customers[BIG]
    store = open_store(Settings(database_url=db.url))
    pool: FloorPool | None = None
    rows: list[dict[str, Any]] = []
    try:
        _, key = store.create_api_key(big)
        queries = build(store, big, options.queries)
        if not queries:
            return rows
        wrk_path()
        pool = FloorPool(db.url, big, options.floor_workers)
        bodies = options.workdir / "bare-bodies"
        bodies.mkdir(exist_ok=True)
        with server_under_test(options, db.url) as server:
            pids = server.settled_pids()
            console.print(f"server: up on {server.url}, pids {pids}")
            for query in queries:
                with console.status(f"queries: {query.label}"):
                    api = api_latency(server, key, query, budget, bodies / _body_name(query))
                    api["c8"] = api_throughput(server, key, query, 8, budget, options.wrk_threads)
                    api["c32"] = api_throughput(server, key, query, 32, budget, options.wrk_threads)
                    floor = floor_latency(store, query, big, budget)
                    floor["c8"] = pool.throughput(query, options.duration)
                rows.append(
                    {"query": query.qid, "kind": query.kind, "params": query.params}
                    | {"api": api, "floor": floor, "server_pids": pids}
                )
                console.print(
                    f"queries: {query.label}: API p50 {api['latency_ms']['p50']:.2f} ms, "
                    f"floor p50 {floor['latency_ms']['p50']:.2f} ms; 8 clients "
                    f"{api['c8']['rps']:.1f}/s, floor {floor['c8']['rps']:.1f}/s"
                )
        _measure_bare(options, db, budget, queries, rows, bodies)
    finally:
        if pool is not None:
            pool.close()
        store.close()
    return rows


def _body_name(query: Query) -> str:
    return f"{query.qid}-{query.kind}.json"


def _measure_bare(
    options: Options,
    db: database.Target,
    budget: Budget,
    queries: list[Query],
    rows: list[dict[str, Any]],
    bodies: Path,
) -> None:
    """Each query's body answered by a bare ASGI app under the same uvicorn (``bench.bare``),
    once the server has stopped: what any service would pay to send it."""
    log = options.workdir / "server-bare.log"
    with bare_server(bodies, log, db.url, options.serve_args) as server:
        for query, row in zip(queries, rows, strict=True):
            with console.status(f"bare app: {query.label}"):
                bare = http_latency(server, f"/{_body_name(query)}", {}, query.label, budget)
            if bare["bytes"] != row["api"]["bytes"]:
                raise RuntimeError(f"bare app: {query.label} answered {bare['bytes']} bytes")
            row["bare"] = {key: bare[key] for key in ("latency_ms", "cpu_ms_per_request")}
            own = row["api"]["latency_ms"]["p50"] - row["floor"]["latency_ms"]["p50"]
            console.print(
                f"bare app: {query.label}: p50 {bare['latency_ms']['p50']:.2f} ms; the "
                f"server's own {own:.2f} ms"
            )


def main() -> None:
    options = parse_args()
    began = time.monotonic()
    db = database.target(options)
    described, code = meta(options, db), src_state()
    if options.keep:
        state = database.load_state(db, options.rows)
        console.print(f"database: reusing the loaded {options.db} database (--keep)")
        database.upgrade_kept(db)
    else:
        state = load(options, db)
    queries = measure(options, db, state)
    exports = export.measure(options, db, state, export.wanted(options.queries))
    results = {
        "meta": described | {"src_changed_during_run": src_state() != code},
        "settle": state.ingest.get("settle", ""),
        "ingest": None if options.keep else state.ingest,
        "queries": queries,
        "server_peak_rss_mb": max(
            (max(q["api"]["c8"]["peak_rss_mb"], q["api"]["c32"]["peak_rss_mb"]) for q in queries),
            default=0.0,
        ),
        "exports": exports,
        "wall_s": time.monotonic() - began,
    }
    results["targets"] = targets(results)
    show(results, options.markdown)
    if exports:
        console.print(export.table(exports, options.markdown))
    console.print(f"results: {save(results, options)} (wall time {results['wall_s']:,.0f} s)")


if __name__ == "__main__":
    main()
