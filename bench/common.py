"""What every part of the suite shares: the run's options, the data set's shape, small helpers."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from rich.console import Console

from atende_logs.demo_documents import ZONE
from bench.server import Server

Db = Literal["sqlite", "postgresql"]

TZ = "America/Sao_Paulo"
"""The zone queries are read in: the service's default."""

# The data set: one big customer holding most rows over 16 months, so that one month holds
# about 6% of its rows (60,000 of 1 million), and a few small customers beside it.
START = datetime(2024, 1, 1, tzinfo=ZONE)
DAYS = 486  # 2024-01-01 to 2025-04-30 (São Paulo)
MONTH = ("2024-09-01", "2024-09-30")
"""The one-month range the queries read: the middle of the big customer's data."""
SMALL_CUSTOMERS = 4
SMALL_SHARE = 40
"""Each small customer holds rows // SMALL_SHARE documents of each kind (2.5%)."""
SMALL_ATTENDANTS = 8
KINDS = ("attendant-logs", "cdrs")


def big_attendants(rows: int) -> int:
    """The big customer's agents: 30 from 600,000 rows, fewer below, so that every agent
    still has a few calls a day (4 at 20,000 rows, 10 at 200,000)."""
    return max(4, min(30, rows // 20_000))


BIG = "bench big"
SMALL = tuple(f"bench small {i}" for i in range(1, SMALL_CUSTOMERS + 1))
HTTP_LOADED = (SMALL[0], "cdrs")
"""The one file loaded through the HTTP batch endpoint instead of ``atende-logs import``."""

console = Console(width=None if sys.stdout.isatty() else 180)


@dataclass(frozen=True)
class Options:
    """One run of the suite, as given on the command line."""

    db: Db
    rows: int
    workdir: Path
    postgres_url: str
    schema: str
    duration: float
    requests: int
    latency_budget: float
    keep: bool
    drop_data: bool
    floor_docs: int | None
    """The ingest floor's sample per kind; None for every document."""
    queries: tuple[str, ...] | None
    markdown: bool
    wrk_threads: int
    floor_workers: int
    serve_args: tuple[str, ...]
    """Extra arguments of ``atende-logs serve`` (``--workers 2``)."""


def child_env(database_url: str) -> dict[str, str]:
    """The environment of a server or import subprocess: ours, pointed at the database.

    Rate limits off: the runs send thousands of requests a second with one key, which is
    what the limits exist to refuse, unless the environment asks for them (bench.neighbour,
    which measures what they cost and what they spare a neighbour).
    """
    return {"ATENDE_RATE_LIMIT_ENABLED": "false", **os.environ, "ATENDE_DATABASE_URL": database_url}


def server_under_test(options: Options, database_url: str) -> Server:
    """The server the run measures: ``serve``'s own defaults (a worker per core) unless
    ``--serve-args`` says otherwise; its log in the work directory."""
    log = options.workdir / f"server-{options.db}.log"
    return Server(database_url, log, *options.serve_args, workers=None, env=child_env(database_url))


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p95 and p99 (nearest rank) of ``samples``, in the samples' unit."""
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99), "n": float(len(ordered))}


def mb(size: float) -> float:
    """Bytes in megabytes (10**6), the unit every MB figure of the suite uses."""
    return size / 1_000_000
