"""Ingest figures: ``atende-logs import``, the HTTP batch endpoint, and the database's floor.

The floor is the raw write rate of the same rows, prepared beforehand with the project's
own ``to_row`` so it times only the database: ``executemany`` of a plain INSERT (SQLite) or
``COPY`` (PostgreSQL) into a scratch table made like the real one, committing every
``ingest_batch_size`` rows as the import does.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import psycopg

from atende_logs.config import Settings
from atende_logs.ingest.documents import to_row
from atende_logs.kinds import KINDS, Kind
from atende_logs.storage._pgcopy import SQL_TYPES
from atende_logs.storage.sqlite import sqlite_path
from bench.common import child_env, console, mb
from bench.data import DataFile, batches
from bench.database import Target
from bench.server import cli_path, rss_mb

Write = Callable[[Sequence[tuple[Any, ...]]], None]


def rates(docs: int, size: int, seconds: float) -> dict[str, float]:
    return {
        "docs": docs,
        "mb": mb(size),
        "seconds": seconds,
        "docs_per_s": docs / seconds if seconds else 0.0,
        "mb_per_s": mb(size) / seconds if seconds else 0.0,
    }


def run_import(db: Target, source: DataFile, customer_id: int) -> dict[str, Any]:
    """``atende-logs import KIND FILE --customer ID --json``, timed, with its peak RSS."""
    command = [str(cli_path()), "import", source.kind, str(source.path)]
    command += ["--customer", str(customer_id), "--json"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        process = subprocess.Popen(command, env=child_env(db.url), stdout=out, stderr=err)
        # The anonymous RSS of the import and its parsing workers together, polled until it
        # exits (bench/server.py says why not VmRSS: mapped database pages are page cache).
        peak_mb = 0.0
        while not _exited(process.pid):
            peak_mb = max(peak_mb, rss_mb([process.pid, *_children(process.pid)]))
            time.sleep(0.05)
        # wait4, not wait: it hands back this child's own CPU time.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise RuntimeError(f"import of {source.path} failed: {err.read().decode()[-2000:]}")
        summary = orjson.loads(out.read())
    if summary["rejected"]:
        raise RuntimeError(f"import of {source.path} rejected {summary['rejected']} records")
    return {
        **rates(source.docs, source.bytes, seconds),
        "stored": summary["stored"],
        "replaced": summary["replaced"],
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": peak_mb,
    }


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie not yet waited for counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def import_all(db: Target, loads: list[tuple[int, DataFile]]) -> dict[str, Any]:
    """Every file of one kind through ``import``, one process per file; summed figures."""
    runs = []
    for customer_id, source in loads:
        with console.status(f"ingest: importing {source.path.name}"):
            runs.append(run_import(db, source, customer_id))
        last = runs[-1]
        console.print(
            f"ingest: {source.path.name}: {last['docs_per_s']:,.0f} docs/s, "
            f"{last['mb_per_s']:,.1f} MB/s, peak RSS {last['peak_rss_mb']:,.0f} MB"
        )
    total = rates(
        sum(r["docs"] for r in runs),
        sum(source.bytes for _, source in loads),
        sum(r["seconds"] for r in runs),
    )
    return {
        **total,
        "files": len(runs),
        "stored": sum(r["stored"] for r in runs),
        "largest_file": runs[0] if runs else None,
        "peak_rss_mb": max((r["peak_rss_mb"] for r in runs), default=0.0),
        "cpu_s": sum(r["cpu_s"] for r in runs),
    }


def http_ingest(base_url: str, key: str, customer_id: int, source: DataFile) -> dict[str, Any]:
    """POST the file in NDJSON batches of 1,000 over one keep-alive connection."""
    counts = {"stored": 0, "replaced": 0, "rejected": 0, "batches": 0}
    headers = {"x-ingest-key": key, "content-type": "application/x-ndjson"}
    path = f"/ingest/customers/{customer_id}/{source.kind}"
    with httpx.Client(base_url=base_url, headers=headers, timeout=300) as client:
        began = time.perf_counter()
        for body in batches(source, 1000):
            response = client.post(path, content=body)
            response.raise_for_status()
            answer = response.json()
            for name in ("stored", "replaced", "rejected"):
                counts[name] += answer[name]
            counts["batches"] += 1
        seconds = time.perf_counter() - began
    if counts["rejected"]:
        raise RuntimeError(f"HTTP ingest of {source.path} rejected {counts['rejected']} records")
    return {**rates(source.docs, source.bytes, seconds), **counts}


def floor(
    db: Target, kind_name: str, loads: list[tuple[int, DataFile]], limit: int | None = None
) -> dict[str, Any]:
    """The raw write rate of the rows of ``loads`` (the first ``limit`` of them, if given),
    prepared beforehand (untimed)."""
    settings = Settings(database_url=db.url)
    kind, zone, batch = KINDS[kind_name], ZoneInfo(settings.timezone), settings.ingest_batch_size
    docs = size = 0
    seconds = 0.0
    with _scratch(db, kind) as write:
        for customer_id, source in loads:
            with console.status(f"ingest: floor writes of {source.path.name}"):
                for rows, chunk_bytes in _prepared(source, kind, zone, customer_id, 50 * batch):
                    began = time.perf_counter()
                    for start in range(0, len(rows), batch):
                        write(rows[start : start + batch])
                    seconds += time.perf_counter() - began
                    docs += len(rows)
                    size += chunk_bytes
                    if limit is not None and docs >= limit:
                        break
            if limit is not None and docs >= limit:
                break
    method = "executemany INSERT" if db.schema is None else "binary COPY"
    return {**rates(docs, size, seconds), "method": method, "batch": batch, "limit": limit}


def _prepared(
    source: DataFile, kind: Kind, zone: ZoneInfo, customer_id: int, chunk: int
) -> Iterator[tuple[list[tuple[Any, ...]], int]]:
    """Rows to insert, ``chunk`` at a time, with the bytes of the lines they came from."""
    rows: list[tuple[Any, ...]] = []
    size = 0
    with source.path.open("rb") as lines:
        for line in lines:
            raw = line.rstrip(b"\n")
            row = to_row(kind, orjson.loads(raw), zone, None, raw)
            rows.append((customer_id, row.doc_id, row.time_ms, row.doc.decode(), *row.values))
            size += len(line)
            if len(rows) == chunk:
                yield rows, size
                rows, size = [], 0
    if rows:
        yield rows, size


def _columns(kind: Kind) -> str:
    return ", ".join(f'"{c}"' for c in ["customer_id", "doc_id", "time_ms", "doc", *kind.columns])


@contextmanager
def _scratch(db: Target, kind: Kind) -> Iterator[Write]:
    """A write function into an empty scratch copy of ``kind``'s table, dropped afterwards."""
    scratch = f"bench_floor_{kind.table}"
    if db.schema is None:
        with _sqlite_scratch(db, kind, scratch) as write:
            yield write
    else:
        with _postgres_scratch(db, kind, scratch) as write:
            yield write


@contextmanager
def _sqlite_scratch(db: Target, kind: Kind, scratch: str) -> Iterator[Write]:
    """The table, its indexes and ``customers`` (its foreign keys' target) in a scratch file
    beside the database, made from the database's own schema; the file is removed after."""
    main = Path(sqlite_path(db.url))
    path = main.with_name(f"{scratch}.db")
    with sqlite3.connect(main) as source:
        schema = source.execute(
            # Tables and indexes, not the hourly-count triggers: the floor is the database's
            # raw write rate (PostgreSQL's LIKE … INCLUDING ALL copies no trigger either).
            "SELECT sql FROM sqlite_master WHERE tbl_name IN ('customers', ?) "
            "AND type IN ('table', 'index') AND sql IS NOT NULL "
            "ORDER BY tbl_name = ?, type = 'index'",
            [kind.table, kind.table],
        ).fetchall()
        customers = source.execute("SELECT * FROM customers").fetchall()
    _remove_sqlite(path)
    connection = sqlite3.connect(path, isolation_level=None)
    # The store's own settings: a floor with weaker durability would not be the same work.
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON"):
        connection.execute(f"PRAGMA {pragma}")
    for (sql,) in schema:
        connection.execute(sql)
    marks = ", ".join("?" for _ in customers[0]) if customers else ""
    connection.executemany(f"INSERT INTO customers VALUES ({marks})", customers)
    marks = ", ".join("?" for _ in range(4 + len(kind.columns)))
    insert = f"INSERT INTO {kind.table} ({_columns(kind)}) VALUES ({marks})"

    def write(rows: Sequence[tuple[Any, ...]]) -> None:
        connection.execute("BEGIN")
        connection.executemany(insert, rows)
        connection.execute("COMMIT")

    try:
        yield write
    finally:
        connection.close()
        _remove_sqlite(path)


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def _postgres_scratch(db: Target, kind: Kind, scratch: str) -> Iterator[Write]:
    connection = psycopg.connect(db.url, autocommit=True)
    connection.execute(f"DROP TABLE IF EXISTS {scratch}")
    connection.execute(f"CREATE TABLE {scratch} (LIKE {kind.table} INCLUDING ALL)")
    # Binary, as the import sends its rows (storage/_pgcopy.py): PostgreSQL reads it for
    # less CPU than text. psycopg formats the rows in C, inside the timed writes.
    copy_sql = f"COPY {scratch} ({_columns(kind)}) FROM STDIN (FORMAT BINARY)"
    types = ["integer", "text", "bigint", "text"]
    types += [SQL_TYPES[spec.column_type] for spec in kind.stored_filters]

    def write(rows: Sequence[tuple[Any, ...]]) -> None:
        with connection.transaction(), connection.cursor() as cursor:
            with cursor.copy(copy_sql) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)

    try:
        yield write
    finally:
        connection.execute(f"DROP TABLE IF EXISTS {scratch}")
        connection.close()
