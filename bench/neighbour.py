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

from atende_logs import credentials
from atende_logs.config import Settings
from atende_logs.http.ratelimit import RateLimitMiddleware
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo import as_records
from atende_logs.kinds import CDRS
from atende_logs.ratelimit import Buckets, MemoryBuckets, RedisBuckets
from atende_logs.storage import open_store
from atende_logs.storage.migrate import upgrade
from bench.load import wrk_path
from bench.server import Server

QUOTA, WINDOW_S = 500, 10
"""50 requests a second per key, bursts of 500: the neighbour's pace stays well under it."""
NEIGHBOUR_CONNECTIONS, NEIGHBOUR_DELAY_MS = 2, 50  # at most 40 requests a second
ABUSER_CONNECTIONS = 16
TARGET = "/customers/cdrs/logs?size=100"

# wrk: pace each connection by WRK_DELAY_MS between requests (the wait is not counted in the
# latency), and print the percentiles and status counts wrk's summary lacks.
_WRK_SCRIPT = """
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
if pause > 0 then
  function delay() return pause end
end
function done(summary, latency, requests)
  io.write(string.format("RESULT p50_us=%d p95_us=%d requests=%d non2xx=%d\\n",
    latency:percentile(50), latency:percentile(95), summary.requests, summary.errors.status))
end
"""


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


def _prepare(url: str) -> tuple[str, str]:
    """A migrated database with two customers' CDRs: the neighbour's key and the abuser's."""
    upgrade(url)
    store = open_store(Settings(database_url=url))
    try:
        keys = []
        for name in ("neighbour", "abuser"):
            customer = store.create_customer(name)
            ingest(store, customer.id, CDRS, as_records(_cdrs(name, 2_000)), zone=UTC)
            keys.append(store.create_api_key(customer.id)[1])
        return keys[0], keys[1]
    finally:
        store.close()


def _wrk(server: Server, key: str, connections: int, seconds: int, delay_ms: int, script: Path):
    command = [wrk_path(), "-t", "1", "-c", str(connections), "-d", f"{seconds}s"]
    command += ["-s", str(script), "-H", f"x-api-key: {key}", server.base_url + TARGET]
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
    args = parser.parse_args()

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
            saved = {name: os.environ.get(name) for name in env}
            os.environ.update(env)  # the server's environment: bench.common.child_env copies it
            try:
                with Server(url, work / "server.log") as server:
                    _print(label, _run(server, keys, args.seconds, script), args.seconds)
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value


if __name__ == "__main__":
    main()
