"""Measuring one query: through the API (httpx, wrk) and at its floor (the store in-process).

The floor runs the very call the API handler makes, ``store.search(parse_search(...))`` (or
``store.stats``), on
a store opened like the server's, with no HTTP: the same SQL through the same driver.
"""

from __future__ import annotations

import http.client
import multiprocessing
import queue
import re
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from atende_logs.allocator import keep_freed_memory
from atende_logs.config import Settings
from atende_logs.storage import open_store
from atende_logs.storage.base import Store
from bench.common import console, percentiles
from bench.queries import Query
from bench.server import RssSampler, Server, cpu_seconds

WARM_UP = 3


@dataclass(frozen=True)
class Budget:
    requests: int
    """Sequential requests per latency run."""
    seconds: float
    """A latency run stops early past this time (with at least 10 samples)."""
    duration: float
    """Length of each concurrent run."""


def _warm_up(call: Callable[[], Any]) -> int:
    """Calls until WARM_UP calls are done and a second has passed (50 at most): how many."""
    began, done = time.perf_counter(), 0
    while done < WARM_UP or (done < 50 and time.perf_counter() - began < 1.0):
        call()
        done += 1
    return done


def _timed(call: Callable[[], Any], budget: Budget) -> dict[str, float]:
    """Sequential calls (after a warm-up): latency percentiles in ms."""
    samples: list[float] = []
    stop = time.perf_counter() + budget.seconds
    while len(samples) < budget.requests and (len(samples) < 10 or time.perf_counter() < stop):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return percentiles(samples)


def api_latency(
    server: Server, key: str, query: Query, budget: Budget, keep_body: Path | None = None
) -> dict[str, Any]:
    """Sequential requests over one keep-alive connection: ms percentiles, size, CPU; the
    last body is written to ``keep_body`` when given (for ``bare``)."""
    target = f"{query.path()}?{urlencode(query.params)}"
    answer = http_latency(server, target, {"x-api-key": key}, query.label, budget)
    if keep_body is not None:
        keep_body.write_bytes(answer.pop("body"))
    total = re.match(rb'\{"total":(\d+)', answer.pop("head"))
    answer.pop("body", None)
    return answer | {"total": int(total[1]) if total else None}


def http_latency(
    server: Server, target: str, headers: dict[str, str], label: str, budget: Budget
) -> dict[str, Any]:
    """Sequential GETs of ``target`` over one keep-alive connection: ms percentiles, the
    body's size, its head and the last body, the server's CPU per request.

    The client is the standard library's ``http.client``, which reads a body of known length
    in one call: httpx spends milliseconds more per 2.5 MB page, which would count as server
    time (docs/benchmarks-history.md, "Figures from code comments"; ``wrk -c 1`` agrees with
    ``http.client``).
    """
    answer: dict[str, Any] = {}
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)

    def call() -> None:
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{label}: HTTP {response.status} {body[:500]!r}")
        answer["body"] = body

    try:
        _warm_up(call)
        before = cpu_seconds(server.live_pids())
        latency = _timed(call, budget)
        spent = cpu_seconds(server.live_pids()) - before
    finally:
        connection.close()
    body = answer["body"]
    return {
        "latency_ms": latency,
        "bytes": len(body),
        "head": body[:200],
        "body": body,
        "cpu_ms_per_request": spent * 1000 / latency["n"],
    }


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    """A wrk duration ("912.34us", "1.20s") in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise RuntimeError(f"cannot read wrk's time {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> dict[str, Any]:
    """requests/s, latency percentiles (ms), requests and errors from ``wrk --latency``."""
    found = {p: _ms(t) for p, t in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M)}
    requests = re.search(r"^\s*(\d+) requests in ([\d.]+\w+)", output, re.M)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    if not (requests and rate and found):
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": float(rate[1]),
        "requests": int(requests[1]),
        "p50_ms": found.get("50"),
        "p99_ms": found.get("99"),
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
    }


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "wrk is needed for the concurrent runs: install it with `apt-get install -y wrk`"
        )
    return found


def api_throughput(
    server: Server, key: str, query: Query, clients: int, budget: Budget, threads: int
) -> dict[str, Any]:
    """``wrk`` with ``clients`` connections for the run's duration; server CPU and peak RSS."""
    url = f"{server.url}{query.path()}?{urlencode(query.params)}"
    command = [wrk_path(), "--latency", "-t", str(min(threads, clients)), "-c", str(clients)]
    command += ["-d", f"{budget.duration:g}s", "--timeout", "60s", "-H", f"x-api-key: {key}", url]
    before = cpu_seconds(server.live_pids())
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with RssSampler(server) as sampler:
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        client = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The requests in flight when wrk stops (one per connection) are still served:
        # their CPU time is counted once the server is idle, and they count as requests.
        spent = _idle_cpu_seconds(server) - before
    result = parse_wrk(done.stdout)
    result["cpu_ms_per_request"] = spent * 1000 / (result["requests"] + clients)
    result["peak_rss_mb"] = sampler.peak
    result["rss_first_tenth_mb"], result["rss_last_tenth_mb"] = sampler.growth()
    wrk_cpu = client.ru_utime + client.ru_stime - client_before.ru_utime - client_before.ru_stime
    result["wrk_cpu_share"] = wrk_cpu / budget.duration  # of one core
    if result["non_2xx"] or result["socket_errors"]:
        console.print(
            f"[red]{query.label}, {clients} clients: {result['non_2xx']} non-2xx answers, "
            f"{result['socket_errors']} socket errors[/red]"
        )
    return result


def _idle_cpu_seconds(server: Server, timeout: float = 30.0) -> float:
    """The server tree's CPU time once it stopped growing (idle for 0.2 s)."""
    deadline = time.monotonic() + timeout
    previous, idle = cpu_seconds(server.live_pids()), 0
    while idle < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        current = cpu_seconds(server.live_pids())
        idle = idle + 1 if current == previous else 0
        previous = current
    return previous


def floor_latency(store: Store, query: Query, customer_id: int, budget: Budget) -> dict[str, Any]:
    """The API's own call, in-process and single-threaded: ms percentiles."""

    def call() -> None:
        query.run_floor(store, customer_id)

    _warm_up(call)
    return {"latency_ms": _timed(call, budget)}


def _floor_worker(url: str, customer_id: int, tasks: Any, results: Any, barrier: Barrier) -> None:
    keep_freed_memory()  # the server's allocator settings (http.app), so the floor is like for like
    store = open_store(Settings(database_url=url))
    results.put("ready")
    try:
        while (task := tasks.get()) is not None:
            query, duration = task  # a Query pickles: a frozen dataclass of text
            count, began = 0, 0.0
            try:
                for _ in range(WARM_UP):
                    query.run_floor(store, customer_id)
                barrier.wait(timeout=120)
                began = time.perf_counter()
                while time.perf_counter() - began < duration:
                    query.run_floor(store, customer_id)
                    count += 1
                results.put((count, time.perf_counter() - began, None))
            except Exception as exc:  # reported to the parent, which raises
                barrier.abort()
                results.put((0, 0.0, repr(exc)))
    finally:
        store.close()


class FloorPool:
    """Worker processes, each with its own store, running one query together for a while."""

    def __init__(self, url: str, customer_id: int, workers: int) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited connections or threads
        self.workers = workers
        self._tasks = context.Queue()
        self._results = context.Queue()
        barrier = context.Barrier(workers)
        self._processes = [
            context.Process(
                target=_floor_worker,
                args=(url, customer_id, self._tasks, self._results, barrier),
                daemon=True,
            )
            for _ in range(workers)
        ]
        for process in self._processes:
            process.start()
        self._barrier = barrier
        # Wait until every worker has started and opened its store: starting eight Python
        # processes takes seconds of CPU that must not land on the next measurement.
        for _ in range(workers):
            if self._results.get(timeout=120) != "ready":
                raise RuntimeError("a floor worker failed to start")

    def throughput(self, query: Query, duration: float) -> dict[str, Any]:
        """Queries per second of all workers together, for ``duration`` seconds."""
        self._barrier.reset()
        for _ in range(self.workers):
            self._tasks.put((query, duration))
        outcomes = []
        for _ in range(self.workers):
            try:
                outcomes.append(self._results.get(timeout=duration + 300))
            except queue.Empty as exc:
                raise RuntimeError(f"floor workers did not answer for {query.label}") from exc
        failures = [error for _, _, error in outcomes if error]
        if failures:
            raise RuntimeError(f"floor workers failed on {query.label}: {failures[0]}")
        return {
            "rps": sum(count / seconds for count, seconds, _ in outcomes),
            "requests": sum(count for count, _, _ in outcomes),
            "workers": self.workers,
        }

    def close(self) -> None:
        for _ in self._processes:
            self._tasks.put(None)
        for process in self._processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
