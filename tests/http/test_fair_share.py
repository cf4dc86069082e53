"""One key cannot take every database thread of a process (issue 21, 2.5).

Each request of a key waits for a turn of its key before it runs, holding at most
``ATENDE_DB_THREADS_PER_KEY`` (by default one less than the process's threads) at once,
and gives it back as its answer starts; an export takes a turn again for each chunk. Driven
through the middleware with ASGI messages and anyio's real thread pool: "database work"
here is a worker thread blocked until the test releases it.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable
from typing import Any

from anyio import to_thread
from starlette.types import Message, Receive, Scope, Send

from _limits import DEFAULT_LIMITS
from atende_logs import credentials
from atende_logs.config import Settings
from atende_logs.http.rate_limit_middleware import RateLimitMiddleware, key_turn
from atende_logs.ratelimit import MemoryBuckets

DEADLINE_S = 30.0
SEARCH = "/customers/cdrs/logs"


async def until(condition: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not condition():
        assert loop.time() < deadline, "the condition never came true"
        await asyncio.sleep(0.001)


def _scope(key: str) -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "path": SEARCH,
        "query_string": b"",
        "headers": [(b"x-api-key", key.encode())],
        "client": ("10.0.0.1", 4321),
    }


async def _call(middleware: RateLimitMiddleware, key: str) -> int:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    await middleware(_scope(key), receive, send)
    return int(sent[0]["status"])


def _middleware(app: Any, **overrides: Any) -> RateLimitMiddleware:
    settings = Settings(**{**DEFAULT_LIMITS, "rate_limit_quota": 1_000, **overrides})
    return RateLimitMiddleware(app, settings, MemoryBuckets())


class Database:
    """Blocking calls that hold a worker thread of anyio's default pool until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running: dict[str, int] = {}
        self._lock = threading.Lock()

    def work(self, key: str) -> None:
        with self._lock:
            self.running[key] = self.running.get(key, 0) + 1
        try:
            assert self.release.wait(DEADLINE_S), "never released"
        finally:
            with self._lock:
                self.running[key] -= 1


def test_one_key_at_its_concurrency_cap_leaves_a_thread_for_the_others():
    async def scenario() -> None:
        to_thread.current_default_thread_limiter().total_tokens = 4  # PostgreSQL's default
        database = Database()
        hog, neighbour = (credentials.generate(credentials.CUSTOMER_KEY) for _ in "ab")

        async def page(scope: Scope, receive: Receive, send: Send) -> None:
            key = dict(scope["headers"])[b"x-api-key"].decode()
            if key == neighbour:
                await to_thread.run_sync(lambda: None)  # a quick query
            else:
                await to_thread.run_sync(database.work, key)  # a slow count
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})

        middleware = _middleware(page, concurrent_requests_per_key=4)
        assert middleware.share_size() == 3
        slow = [asyncio.create_task(_call(middleware, hog)) for _ in range(4)]
        await until(lambda: database.running.get(hog) == 3)
        # The hog's fourth request waits for one of its own turns, not refused, not running.
        assert middleware.in_flight.running("key:" + credentials.digest(hog)) == 4
        quick = await asyncio.wait_for(_call(middleware, neighbour), DEADLINE_S)
        assert quick == 200 and database.running[hog] == 3 and not any(t.done() for t in slow)
        database.release.set()
        assert await asyncio.gather(*slow) == [200] * 4
        assert len(middleware.shares) == 0

    asyncio.run(scenario())


def test_a_turn_comes_back_when_the_answer_starts_and_an_export_takes_one_per_chunk():
    async def scenario() -> None:
        key = credentials.generate(credentials.CUSTOMER_KEY)
        events: list[str] = []
        started = asyncio.Event()
        more = asyncio.Event()
        numbers = itertools.count()

        async def export(scope: Scope, receive: Receive, send: Send) -> None:
            name = f"request {next(numbers)}"
            events.append(f"{name} runs")
            await send({"type": "http.response.start", "status": 200, "headers": []})
            started.set()
            await more.wait()
            async with key_turn():  # the next chunk: its key's turn again
                events.append(f"{name} reads a chunk")
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        middleware = _middleware(export, db_threads_per_key=1)
        first = asyncio.create_task(_call(middleware, key))
        await started.wait()  # answer started: its turn is back, though it still streams
        started.clear()
        second = asyncio.create_task(_call(middleware, key))
        await asyncio.wait_for(started.wait(), DEADLINE_S)  # one turn, yet the second runs
        assert events == ["request 0 runs", "request 1 runs"]
        more.set()
        assert await asyncio.gather(first, second) == [200, 200]
        assert sorted(e for e in events if "chunk" in e) == [
            "request 0 reads a chunk",
            "request 1 reads a chunk",
        ]
        assert len(middleware.shares) == 0

    asyncio.run(scenario())


def test_a_request_waiting_for_its_turn_blocks_no_other_key():
    async def scenario() -> None:
        key, other = (credentials.generate(credentials.CUSTOMER_KEY) for _ in "ab")
        release = asyncio.Event()
        entered: list[str] = []

        async def held(scope: Scope, receive: Receive, send: Send) -> None:
            entered.append(dict(scope["headers"])[b"x-api-key"].decode())
            if entered[-1] == key:
                await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})

        middleware = _middleware(held, db_threads_per_key=1)
        first = asyncio.create_task(_call(middleware, key))
        await until(lambda: entered == [key])
        waiting = asyncio.create_task(_call(middleware, key))
        await until(lambda: middleware.in_flight.running("key:" + credentials.digest(key)) == 2)
        assert await asyncio.wait_for(_call(middleware, other), DEADLINE_S) == 200
        assert entered == [key, other]  # the key's second request still waits its turn
        release.set()
        assert await asyncio.gather(first, waiting) == [200, 200]
        assert entered == [key, other, key]

    asyncio.run(scenario())


def test_the_share_is_one_less_than_the_threads_and_at_least_one():
    async def scenario() -> None:
        middleware = _middleware(None)
        limiter = to_thread.current_default_thread_limiter()
        sizes = []
        for threads in (1, 2, 4, 8):
            limiter.total_tokens = threads
            sizes.append(middleware.share_size())
        assert sizes == [1, 1, 3, 7]
        assert _middleware(None, db_threads_per_key=5).share_size() == 5

    asyncio.run(scenario())
