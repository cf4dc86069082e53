"""``python -m bench.neighbour``: does a key flooding past its quota slow its neighbour?

Starts ``atende-logs serve`` (two worker processes, one per core) on a fresh SQLite file
holding 2,000 CDRs of each of two customers, then runs ``wrk`` for the neighbour alone,
paced under its quota, and again with an abuser hammering its own key from 16 unpaced
connections; then the same with refusals answered at once instead of held back (1 s by
default), and with the limits off, to show what each saves. It prints
the neighbour's p50 and p95 (wrk's own percentiles) for each run, with the in-process
buckets and, with ``--redis URL``, the Redis ones.

Before that it times the limiter itself: the middleware around an app that does nothing,
called in-process, per request, against that app alone.

``--slow`` runs the other way to crowd a neighbour out: not a flood of requests but a
hog sending slow filtered counts (a ``total_charge`` no document has, different each time,
so no count is cached) over ``SLOW_ROWS`` CDRs, at its full concurrency (the per-key cap
times the worker processes), each holding a database thread for the whole count. It prints
the neighbour's p50 and p99 alone and beside the hog. To compare with older code, run it
with ``PYTHONPATH`` pointing at that code's ``src``: the server inherits it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import atende_logs
from atende_logs import credentials
from atende_logs.config import Settings
from atende_logs.http.rate_limit_middleware import RateLimitMiddleware
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CDRS
from atende_logs.ratelimit import Buckets, MemoryBuckets, RedisBuckets
from atende_logs.storage import open_store
from atende_logs.storage.migrate import upgrade
from bench.common import child_env
from bench.load import wrk_path
from bench.server import Server

QUOTA, WINDOW_S = 500, 10
"""50 requests a second per key, bursts of 500: the neighbour's pace stays well under it."""
NEIGHBOUR_CONNECTIONS, NEIGHBOUR_DELAY_MS = 2, 50  # at most 40 requests a second
ABUSER_CONNECTIONS = 16
TARGET = "/customers/cdrs/logs?size=100"
SLOW_ROWS = 300_000
"""The hog's CDRs: what each of its filtered counts reads."""
SLOW_WORKERS, SLOW_CAP = 2, 4
"""Server processes and requests in flight per key per process: the defaults on 2 cores."""

# wrk: pace each connection by WRK_DELAY_MS between requests (the wait is not counted in the
# latency), and print the percentiles and status counts wrk's summary lacks.
_WRK_SCRIPT = """
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
if pause > 0 then
  function delay() return pause end
end
function done(summary, latency, requests)
  io.write(string.format("RESULT p50_us=%d p95_us=%d p99_us=%d requests=%d non2xx=%d\\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    summary.requests, summary.errors.status))
end
"""
# The hog: a filtered count over all its CDRs, with a value no cache has seen.
_SLOW_SCRIPT = (
    _WRK_SCRIPT
    + """
math.randomseed(os.time())
request = function()
  local charge = string.format("%d.%02d", math.random(100000, 999999), math.random(0, 99))
  return wrk.format(nil, "/customers/cdrs/logs?size=1&total_charge=" .. charge)
end
"""
)


def _cdrs(prefix: str, count: int) -> list[dict[str, Any]]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        {
            "callid": f"{prefix}-{n}",
            "ori_start_time": (start + timedelta(seconds=17 * n)).isoformat(),
            "call_status": "answered",
        }
        for n in range(count)
    ]


def _prepare(url: str, abuser_rows: int = 2_000) -> tuple[str, str]:
    """A migrated database with two customers' CDRs: the neighbour's key and the abuser's."""
    upgrade(url)
    store = open_store(Settings(database_url=url))
    try:
        keys = []
        for name, rows in (("neighbour", 2_000), ("abuser", abuser_rows)):
            customer = store.create_customer(name)
            ingest(store, customer.id, CDRS, as_records(_cdrs(name, rows)), zone=UTC)
            keys.append(store.create_api_key(customer.id)[1])
        return keys[0], keys[1]
    finally:
        store.close()


def _wrk(server: Server, key: str, connections: int, seconds: int, delay_ms: int, script: Path):
    command = [wrk_path(), "-t", "1", "-c", str(connections), "-d", f"{seconds}s"]
    command += ["--timeout", "30s"]  # a slow count is an answer, not a socket error
    command += ["-s", str(script), "-H", f"x-api-key: {key}", server.url + TARGET]
    env = {**os.environ, "WRK_DELAY_MS": str(delay_ms)}
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)


def _result(process: subprocess.Popen[str]) -> dict[str, float]:
    output, _ = process.communicate()
    line = next(x for x in output.splitlines() if x.startswith("RESULT "))
    fields = dict(part.split("=") for part in line.split()[1:])
    return {name: float(value) for name, value in fields.items()}


def _run(server: Server, keys: tuple[str, str], seconds: int, script: Path) -> dict[str, Any]:
    neighbour, abuser = keys
    alone = _result(
        _wrk(server, neighbour, NEIGHBOUR_CONNECTIONS, seconds, NEIGHBOUR_DELAY_MS, script)
    )
    flood = _wrk(server, abuser, ABUSER_CONNECTIONS, seconds + 2, 0, script)
    time.sleep(1)  # the abuser is flooding before the neighbour starts, and after it stops
    beside = _result(
        _wrk(server, neighbour, NEIGHBOUR_CONNECTIONS, seconds, NEIGHBOUR_DELAY_MS, script)
    )
    return {"alone": alone, "beside": beside, "abuser": _result(flood)}


def _print(label: str, run: dict[str, Any], seconds: int) -> None:
    for name in ("alone", "beside"):
        r = run[name]
        print(
            f"{label:<22} neighbour {name:<6}  p50 {r['p50_us'] / 1000:6.2f} ms  "
            f"p95 {r['p95_us'] / 1000:6.2f} ms  {r['requests']:6.0f} requests, "
            f"{r['non2xx']:.0f} non-2xx"
        )
    a = run["abuser"]
    print(
        f"{label:<22} abuser                {a['requests'] / (seconds + 2):8.0f} requests/s, "
        f"{a['non2xx']:.0f} of {a['requests']:.0f} refused"
    )


def _slow_run(server: Server, keys: tuple[str, str], seconds: int, work: Path) -> dict[str, Any]:
    """The neighbour paging alone, then beside the hog's slow counts."""
    neighbour, hog = keys
    paced, slow = work / "neighbour.lua", work / "hog.lua"
    paced.write_text(_WRK_SCRIPT)
    slow.write_text(_SLOW_SCRIPT)
    alone = _result(
        _wrk(server, neighbour, NEIGHBOUR_CONNECTIONS, seconds, NEIGHBOUR_DELAY_MS, paced)
    )
    counts = _wrk(server, hog, SLOW_CAP * SLOW_WORKERS, seconds + 4, 0, slow)
    time.sleep(2)  # every hog connection has a count running before the neighbour starts
    beside = _result(
        _wrk(server, neighbour, NEIGHBOUR_CONNECTIONS, seconds, NEIGHBOUR_DELAY_MS, paced)
    )
    return {"alone": alone, "beside": beside, "abuser": _result(counts)}


def _print_slow(run: dict[str, Any], seconds: int) -> None:
    for name in ("alone", "beside"):
        r = run[name]
        print(
            f"neighbour {name:<6}  p50 {r['p50_us'] / 1000:8.2f} ms  "
            f"p99 {r['p99_us'] / 1000:8.2f} ms  {r['requests']:6.0f} requests, "
            f"{r['non2xx']:.0f} non-2xx"
        )
    h = run["abuser"]
    print(
        f"hog's slow counts       p50 {h['p50_us'] / 1000:8.2f} ms  "
        f"p99 {h['p99_us'] / 1000:8.2f} ms  {h['requests'] / (seconds + 4):5.1f} requests/s, "
        f"{h['non2xx']:.0f} of {h['requests']:.0f} refused"
    )


def slow_queries(seconds: int) -> None:
    """``--slow``: the neighbour beside a key holding database threads with slow counts."""
    print(f"server code: {Path(atende_logs.__file__).parent}")
    with tempfile.TemporaryDirectory(prefix="atende-neighbour-slow-") as folder:
        work = Path(folder)
        url = f"sqlite:///{work / 'slow.db'}"
        began = time.perf_counter()
        keys = _prepare(url, abuser_rows=SLOW_ROWS)
        print(f"{SLOW_ROWS:,} CDRs of the hog loaded in {time.perf_counter() - began:.0f} s")
        limits = {
            "ATENDE_RATE_LIMIT_ENABLED": "true",  # child_env turns them off unless told
            "ATENDE_RATE_LIMIT_QUOTA": "100000",  # the quota is not what is measured here
            "ATENDE_CONCURRENT_REQUESTS_PER_KEY": str(SLOW_CAP),
        }
        env = {**child_env(url), **limits}
        with Server(url, work / "server.log", workers=SLOW_WORKERS, env=env) as server:
            _print_slow(_slow_run(server, keys, seconds, work), seconds)


async def _overhead(buckets: Buckets, calls: int) -> tuple[float, float]:
    """µs per request: a do-nothing app alone, and inside the limiter."""

    async def nothing(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def send(message: Any) -> None:
        return None

    settings = Settings(rate_limit_quota=10**9, rate_limit_window_s=1)
    limited = RateLimitMiddleware(nothing, settings, buckets)
    key = credentials.generate(credentials.CUSTOMER_KEY).encode()
    scope = {"type": "http", "path": "/customers/cdrs/logs", "headers": [(b"x-api-key", key)]}
    timings = []
    for app in (nothing, limited):
        began = time.perf_counter()
        for _ in range(calls):
            await app(scope, None, send)  # type: ignore[operator]
        timings.append((time.perf_counter() - began) / calls * 1e6)
    await buckets.aclose()
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.neighbour", description=__doc__)
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    parser.add_argument("--redis", help="also run with buckets in this Redis (redis://…)")
    parser.add_argument(
        "--slow", action="store_true", help="only the neighbour beside a hog's slow counts"
    )
    args = parser.parse_args()
    if args.slow:
        slow_queries(args.seconds)
        return

    backends: list[tuple[str, dict[str, str]]] = [("in-process", {})]
    if args.redis:
        prefix = f"atende_bench:{os.getpid()}:"
        backends.append(
            ("redis", {"ATENDE_REDIS_URL": args.redis, "ATENDE_REDIS_KEY_PREFIX": prefix})
        )

    for label, extra in backends:
        buckets: Buckets = (
            RedisBuckets(extra["ATENDE_REDIS_URL"], extra["ATENDE_REDIS_KEY_PREFIX"])
            if extra
            else MemoryBuckets()
        )
        bare, limited = asyncio.run(_overhead(buckets, 20_000 if not extra else 5_000))
        cost = limited - bare
        print(f"limiter cost, {label}: {cost:.1f} µs per request ({bare:.1f} → {limited:.1f})")

    with tempfile.TemporaryDirectory(prefix="atende-neighbour-") as folder:
        work = Path(folder)
        url = f"sqlite:///{work / 'neighbour.db'}"
        keys = _prepare(url)
        script = work / "neighbour.lua"
        script.write_text(_WRK_SCRIPT)
        limits = {
            "ATENDE_RATE_LIMIT_ENABLED": "true",  # child_env turns them off unless told
            "ATENDE_RATE_LIMIT_QUOTA": str(QUOTA),
            "ATENDE_RATE_LIMIT_WINDOW_S": str(WINDOW_S),
        }
        runs = [(f"limits on, {label}", {**limits, **extra}) for label, extra in backends]
        runs.append(("429s at once", {**limits, "ATENDE_RATE_LIMIT_REFUSAL_DELAY_MS": "0"}))
        runs.append(("limits off", {**limits, "ATENDE_RATE_LIMIT_ENABLED": "false"}))
        for label, env in runs:
            environment = {**child_env(url), **env}
            with Server(url, work / "server.log", workers=None, env=environment) as server:
                _print(label, _run(server, keys, args.seconds, script), args.seconds)


if __name__ == "__main__":
    main()
