"""The run's figures as tables on the terminal and as JSON in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from rich import box
from rich.table import Table

from bench.common import Options, console
from bench.database import Target
from bench.queries import LARGE_PAGES, PAGE_QUERIES

RESULTS = Path(__file__).with_name("results")


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def src_state() -> str:
    """``git status`` and diff of src/: what the code under test was, to compare later."""
    return _git("status", "--porcelain", "src") + _git("diff", "HEAD", "--", "src")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def _database_version(db: Target) -> str:
    if db.schema is None:
        return f"SQLite {sqlite3.sqlite_version}"
    with psycopg.connect(db.url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


def meta(options: Options, db: Target) -> dict[str, Any]:
    """Where and how the figures were taken."""
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
        "db": options.db,
        "database": _database_version(db),
        "rows_per_kind": options.rows,
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(_memory_gb(), 1),
        "python": platform.python_version(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_src_modified": bool(src_state()),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "",
        "concurrent_run_s": options.duration,
        "latency_requests": options.requests,
        "floor_workers": options.floor_workers,
        "serve_args": " ".join(options.serve_args),
    }


def save(results: dict[str, Any], options: Options) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{options.db}-{options.rows}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2))
    return path


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}"


def _table(title: str, markdown: bool, *columns: str) -> Table:
    table = Table(title=title, box=box.MARKDOWN if markdown else box.SIMPLE_HEAD)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i < 2 else "right")
    return table


def ingest_table(ingest: dict[str, Any], markdown: bool) -> Table:
    table = _table(
        "Ingest",
        markdown,
        "path",
        "kind",
        "docs",
        "MB",
        "s",
        "docs/s",
        "MB/s",
        "floor docs/s",
        "path / floor",
        "peak RSS MB",
    )
    for kind, figures in ingest["kinds"].items():
        floor = figures["floor"]
        runs = [
            ("import, all files", figures["import"]),
            ("import, big customer's file", figures["import"]["largest_file"]),
            ("re-import of a slice (replace)", figures["reimport"]),
        ]
        for label, row in runs:
            table.add_row(
                label,
                kind,
                _n(row["docs"]),
                _n(row["mb"], 1),
                _n(row["seconds"], 2),
                _n(row["docs_per_s"]),
                _n(row["mb_per_s"], 1),
                _n(floor["docs_per_s"]),
                _ratio(row["docs_per_s"], floor["docs_per_s"]),
                _n(row.get("peak_rss_mb")),
            )
        table.add_row(
            f"floor ({floor['method']})",
            kind,
            _n(floor["docs"]),
            _n(floor["mb"], 1),
            _n(floor["seconds"], 2),
            _n(floor["docs_per_s"]),
            _n(floor["mb_per_s"], 1),
            "",
            "",
            "",
        )
    http = ingest["http"]
    floor_rate = ingest["kinds"][http["kind"]]["floor"]["docs_per_s"]
    table.add_row(
        "HTTP batches of 1,000",
        http["kind"],
        _n(http["docs"]),
        _n(http["mb"], 1),
        _n(http["seconds"], 2),
        _n(http["docs_per_s"]),
        _n(http["mb_per_s"], 1),
        _n(floor_rate),
        _ratio(http["docs_per_s"], floor_rate),
        _n(http.get("peak_rss_mb")),
    )
    return table


def latency_table(queries: list[dict[str, Any]], markdown: bool) -> Table:
    table = _table(
        "Latency, one client (ms)",
        markdown,
        "query",
        "kind",
        "bytes",
        "total",
        "API p50",
        "p95",
        "p99",
        "floor p50",
        "p95",
        "p99",
        "API/floor p50",
        "bare p50",
        "own / bare",
        "CPU ms/req",
    )
    for q in queries:
        api, floor = q["api"]["latency_ms"], q["floor"]["latency_ms"]
        bare = q.get("bare", {}).get("latency_ms", {}).get("p50")
        table.add_row(
            q["query"],
            q["kind"],
            _n(q["api"]["bytes"]),
            _n(q["api"]["total"]),
            _n(api["p50"], 2),
            _n(api["p95"], 2),
            _n(api["p99"], 2),
            _n(floor["p50"], 2),
            _n(floor["p95"], 2),
            _n(floor["p99"], 2),
            _ratio(api["p50"], floor["p50"]),
            _n(bare, 2),
            _n(own_cost_ratio(q), 2),
            _n(q["api"]["cpu_ms_per_request"], 2),
        )
    return table


def throughput_table(queries: list[dict[str, Any]], markdown: bool) -> Table:
    table = _table(
        "Throughput (requests/s) and p99 (ms) under concurrent clients",
        markdown,
        "query",
        "kind",
        "API 8",
        "p99 8",
        "floor 8",
        "API/floor 8",
        "API 32",
        "p99 32",
        "CPU ms/req 8",
        "CPU ms/req 32",
        "peak RSS MB",
    )
    for q in queries:
        c8, c32, floor = q["api"]["c8"], q["api"]["c32"], q["floor"]["c8"]
        table.add_row(
            q["query"],
            q["kind"],
            _n(c8["rps"], 1),
            _n(c8["p99_ms"], 1),
            _n(floor["rps"], 1),
            _ratio(c8["rps"], floor["rps"]),
            _n(c32["rps"], 1),
            _n(c32["p99_ms"], 1),
            _n(c8["cpu_ms_per_request"], 2),
            _n(c32["cpu_ms_per_request"], 2),
            _n(max(c8["peak_rss_mb"], c32["peak_rss_mb"])),
        )
    return table


def own_cost_ratio(q: dict[str, Any]) -> float | None:
    """The server's own cost of a request, its p50 beyond the floor's (the database work),
    over the p50 of a bare ASGI app answering the same body under the same uvicorn
    (``bench.bare``); None when the bare app was not measured."""
    bare = q.get("bare")
    if not bare or not bare["latency_ms"]["p50"]:
        return None
    own = q["api"]["latency_ms"]["p50"] - q["floor"]["latency_ms"]["p50"]
    return float(own / bare["latency_ms"]["p50"])


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the figure this run measured and whether it is met."""
    db = results["meta"]["db"]
    checks: list[dict[str, Any]] = []

    def check(name: str, value: float | None, limit: float, at_most: bool) -> None:
        met = None if value is None else (value <= limit if at_most else value >= limit)
        checks.append(
            {"target": name, "value": value, "limit": limit, "at_most": at_most, "met": met}
        )

    for q in results["queries"]:
        label = f"{q['query']} {q['kind']}"
        api, floor = q["api"], q["floor"]
        # Issue 17's restatement of issue 3's page targets: a floor of a fraction of a
        # millisecond is below what any HTTP server costs, so the server's own cost is
        # weighed against a bare app's, not against the floor.
        own = own_cost_ratio(q)
        if q["query"] in PAGE_QUERIES and own is not None:
            check(f"{label}: server's own cost / bare ASGI app's, p50", own, 1.3, at_most=True)
        if q["query"] in LARGE_PAGES:
            rps = api["c8"]["rps"] / floor["c8"]["rps"]
            check(f"{label}: API / floor, requests/s with 8 clients", rps, 0.6, at_most=False)
        limit = {"Q1": 15.0 if db == "sqlite" else 40.0, "Q4": 2.0, "Q1-all": 250.0}
        if q["query"] in limit:
            value = api["latency_ms"]["p50"]
            check(f"{label}: API p50 (ms)", value, limit[q["query"]], at_most=True)
    if results.get("ingest"):
        for kind, figures in results["ingest"]["kinds"].items():
            limit_rate = 10_000.0 if db == "sqlite" else 20_000.0
            rate = figures["import"]["docs_per_s"]
            check(f"import {kind}: documents/s", rate, limit_rate, at_most=False)
            rate = figures["reimport"]["docs_per_s"]
            check(f"re-import {kind} (idempotent): documents/s", rate, limit_rate, at_most=False)
    return checks


def targets_table(checks: list[dict[str, Any]], markdown: bool) -> Table:
    table = _table("Issue targets (they apply at full size)", markdown, "target", "", "measured")
    for c in checks:
        sign = "<=" if c["at_most"] else ">="
        verdict = "-" if c["met"] is None else ("met" if c["met"] else "NOT met")
        table.add_row(c["target"], f"{sign} {c['limit']:,g}", f"{c['value']:,.2f} {verdict}")
    return table


def show(results: dict[str, Any], markdown: bool) -> None:
    m = results["meta"]
    console.print(
        f"\n{m['database']}, {m['rows_per_kind']:,} rows per kind, {m['cpus']} CPUs "
        f"({m['cpu_model']}), {m['date']}, commit {m['git_commit']}"
        f"{' + local changes in src/' if m['git_src_modified'] else ''}\n"
        f"command: {m['command']}; server: atende-logs serve {m['serve_args']}\n"
        f"concurrent runs: wrk, {m['concurrent_run_s']:g} s each; floor throughput: "
        f"{m['floor_workers']} processes; latency: up to {m['latency_requests']} requests\n"
        f"after load: {results['settle']}"
    )
    if m["src_changed_during_run"]:
        console.print("[red]src/ changed during the run: figures may mix two versions[/red]")
    if results.get("ingest"):
        console.print(ingest_table(results["ingest"], markdown))
    if results["queries"]:
        console.print(latency_table(results["queries"], markdown))
        console.print(throughput_table(results["queries"], markdown))
        peak = results["server_peak_rss_mb"]
        console.print(f"server peak RSS over all concurrent runs: {peak:,.0f} MB")
    if results["targets"]:
        console.print(targets_table(results["targets"], markdown))
