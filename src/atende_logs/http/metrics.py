"""Prometheus metrics: what the server counts (http.observe feeds the request counts), and the
text exposition that ``GET /metrics`` answers.

``atende-logs serve`` runs one worker process per core, and a scrape reaches only one of
them, so the numbers must add up across processes: ``serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh private directory before the workers start, each
worker writes its values to memory-mapped files there, and a scrape sums every worker's
files (prometheus_client's multiprocess mode, which it chooses from that variable when it is
first imported). Without the variable (an app built in-process, as in the tests) the values
live in this process's memory and the default registry serves them.

Label values come from fixed sets only (route templates, never raw paths; statuses; kinds;
rate-limit policy names), so the number of series stays bounded whatever clients send.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio import to_thread
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import Scope

from atende_logs.kinds import KINDS
from atende_logs.models import IngestResult
from atende_logs.storage import Store

MULTIPROCESS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Read once, as prometheus_client reads it: values are written to files or kept in memory
# from its first import on, and the exposition must read them from the same place.
_DIRECTORY = os.environ.get(MULTIPROCESS_DIRECTORY_VARIABLE)

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED_ROUTE = "unmatched"
"""The route label of the requests no route matched: a 404, or a redirect to a slash."""
UNROUTED = "unrouted"
"""The route label of the requests answered before routing: a 429 of the rate limiter."""
SAMPLE_INTERVAL_S = 1.0

REQUESTS = Counter(
    "atende_http_requests",
    "HTTP requests answered, by route template and status.",
    ["route", "status"],
)
REQUEST_DURATION = Histogram(
    "atende_http_request_duration_seconds",
    "Time from a request's arrival to its response's last byte, by route template.",
    ["route"],
    # Pages take milliseconds; exports stream for up to minutes.
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
INGESTED_RECORDS = Counter(
    "atende_ingest_records",
    "Records of the HTTP ingest batches, by kind and outcome (stored, replaced, rejected).",
    ["kind", "outcome"],
)
RATE_LIMITED = Counter(
    "atende_rate_limited",
    "Requests refused with 429 by the rate limiter, by the policy that refused them.",
    ["policy"],
)
# Sampled every SAMPLE_INTERVAL_S by each worker; "livesum" adds up the live workers' values.
DB_THREADS_IN_USE = Gauge(
    "atende_db_threads_in_use",
    "Requests running database work now (ATENDE_DB_THREADS bounds them per process).",
    multiprocess_mode="livesum",
)
DB_THREADS_LIMIT = Gauge(
    "atende_db_threads_limit",
    "Requests that may run database work at once, over all server processes.",
    multiprocess_mode="livesum",
)
DB_THREADS_WAITING = Gauge(
    "atende_db_threads_waiting",
    "Requests queued for a database thread.",
    multiprocess_mode="livesum",
)
DB_POOL_CONNECTIONS = Gauge(
    "atende_db_pool_connections",
    "PostgreSQL connections: open, in_use, or max (ATENDE_POOL_SIZE, per process).",
    ["state"],
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "atende_db_pool_waiting",
    "Requests waiting for a PostgreSQL connection.",
    multiprocess_mode="livesum",
)

DB_UNREACHABLE = Gauge(
    "atende_db_unreachable",
    "Server processes that found PostgreSQL gone and refuse requests at once until it is back.",
    multiprocess_mode="livesum",
)

_OUTCOMES = ("stored", "replaced", "rejected")
# Children are looked up once and reused: labels() costs a lock and a tuple each time.
_ingested = {
    (kind, outcome): INGESTED_RECORDS.labels(kind, outcome)
    for kind in KINDS
    for outcome in _OUTCOMES
}
_request_series: dict[tuple[str, int], tuple[Counter, Histogram]] = {}


def count_rate_limited(policy: str) -> None:
    """Count one request refused by the rate limiter; ``policy`` is the policy's name (a
    fixed set), never the key it limited."""
    RATE_LIMITED.labels(policy).inc()


def count_ingest(kind: str, result: IngestResult) -> None:
    """Count the records of one HTTP ingest batch."""
    counts = (result.stored, result.replaced, result.rejected)
    for outcome, records in zip(_OUTCOMES, counts, strict=True):
        if records:
            series = _ingested.get((kind, outcome))
            if series is None:  # a kind added to KINDS after start-up (a test's)
                series = _ingested[kind, outcome] = INGESTED_RECORDS.labels(kind, outcome)
            series.inc(records)


def observe_request(route: str, status: int, seconds: float) -> None:
    """Count one answered request; ``route`` is a route template or one of the two labels
    of requests no route served."""
    series = _request_series.get((route, status))
    if series is None:
        series = (REQUESTS.labels(route, str(status)), REQUEST_DURATION.labels(route))
        _request_series[route, status] = series
    series[0].inc()
    series[1].observe(seconds)


def route_of(scope: Scope) -> str:
    """The template of the route that served the request, or a fixed stand-in."""
    # The router records the route it picked in the very scope it was handed (the path as
    # declared, prefix of its APIRouter included; include_router adds none in this app).
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    return UNMATCHED_ROUTE if "router" in scope else UNROUTED


def exposition() -> bytes:
    """Every metric in the Prometheus text format, summed over the server's processes."""
    if _DIRECTORY is None:
        return generate_latest(REGISTRY)
    _forget_dead_workers(Path(_DIRECTORY))
    registry = CollectorRegistry()
    # prometheus_client leaves its multiprocess functions unannotated.
    multiprocess.MultiProcessCollector(registry, path=_DIRECTORY)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _forget_dead_workers(directory: Path) -> None:
    # A worker that uvicorn restarted, or that was killed, leaves its last gauge samples
    # behind; they would count for ever. Counters and histograms stay: totals must not drop.
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@asynccontextmanager
async def sampling(store: Store) -> AsyncIterator[None]:
    """Samples this process's database threads and pool into the gauges while it is open.

    A background task rather than the request path: each sample costs a few microseconds
    once a second, where updating the gauges around every database call would cost that on
    every request.
    """
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(_sample_forever, store)
        try:
            yield
        finally:
            tasks.cancel_scope.cancel()


async def _sample_forever(store: Store) -> None:
    limiter = to_thread.current_default_thread_limiter()
    while True:
        DB_THREADS_IN_USE.set(limiter.borrowed_tokens)
        DB_THREADS_LIMIT.set(limiter.total_tokens)
        DB_THREADS_WAITING.set(limiter.statistics().tasks_waiting)
        pool = store.pool_stats()  # None on SQLite: its threads are the measure
        if pool is not None:
            DB_POOL_CONNECTIONS.labels("open").set(pool.size)
            DB_POOL_CONNECTIONS.labels("in_use").set(pool.in_use)
            DB_POOL_CONNECTIONS.labels("max").set(pool.max_size)
            DB_POOL_WAITING.set(pool.waiting)
            DB_UNREACHABLE.set(int(pool.unreachable))
        await anyio.sleep(SAMPLE_INTERVAL_S)
