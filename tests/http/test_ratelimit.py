"""Per-key rate limits and the concurrency cap, as clients meet them over HTTP.

The apps here turn the limits on with small quotas (the session's ``client`` has them
off). Buckets live in this process, or in the real Redis of ATENDE_TEST_REDIS_URL under
this session's key prefix.

No test depends on how fast the machine is: windows are long enough that no token comes
back during a test unless it waits for one; a refill is awaited by moving the buckets'
clock (in-process) or by sleeping the Retry-After a refusal gave (Redis keeps its own
clock); and the tests of requests in flight wait for the state they need, with a generous
deadline, rather than for a fixed time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from _limits import DEFAULT_LIMITS
from atende_logs import credentials
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.errors import error_body
from atende_logs.http.rate_limit_middleware import RateLimitMiddleware
from atende_logs.kinds import CDRS, KINDS
from atende_logs.ratelimit import Buckets, MemoryBuckets, RedisBuckets
from atende_logs.storage import Store, open_store

SEARCH = "/customers/cdrs/logs"
LIMIT = re.compile(
    r'"(?P<name>[a-z]+)";r=(?P<r>\d+);t=(?P<t>\d+), "(?P=name)-concurrent";r=(?P<c>\d+)'
)
DEADLINE_S = 30.0
"""How long a test waits for something that takes microseconds, on a machine under load."""


class Clock:
    """A clock for in-process buckets that moves only when told."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def store(sqlite_url: str) -> Iterator[Store]:
    """SQLite only: the limits act before any database work, so the backend is moot."""
    opened = open_store(Settings(database_url=sqlite_url))
    yield opened
    opened.close()


@pytest.fixture
def api_key(store: Store) -> str:
    return store.create_api_key(store.create_customer(f"rl {uuid.uuid4().hex[:8]}").id)[1]


@pytest.fixture
def redis_settings(redis_url: str, redis_prefix: str, request: pytest.FixtureRequest) -> Any:
    """Settings pointing at the test Redis, under a prefix of this test's own."""
    return {"redis_url": redis_url, "redis_key_prefix": f"{redis_prefix}{request.node.name}:"}


@pytest.fixture
def limited(store: Store, sqlite_url: str) -> Any:
    """Opens a client of an app with the limits of the keyword arguments."""

    @contextmanager
    def open_client(buckets: Buckets | None = None, **overrides: Any) -> Iterator[TestClient]:
        settings = Settings(database_url=sqlite_url, **{**DEFAULT_LIMITS, **overrides})
        with TestClient(create_app(settings, store=store, buckets=buckets)) as client:
            yield client

    return open_client


def limit(response: Any) -> dict[str, int]:
    found = LIMIT.fullmatch(response.headers["ratelimit"])
    assert found, response.headers["ratelimit"]
    return {"r": int(found["r"]), "t": int(found["t"]), "free": int(found["c"])}


def test_every_answer_says_the_policy_and_what_is_left(limited, api_key):
    with limited(rate_limit_quota=3, rate_limit_window_s=3600) as client:
        headers = {"x-api-key": api_key}
        answers = [
            client.get(SEARCH, headers=headers),
            client.get(SEARCH, params={"size": "0"}, headers=headers),  # a 400 counts too
            client.get("/customers/attendants/logs", headers=headers),  # one bucket per key
            client.get(SEARCH, headers=headers),
        ]
    assert [a.status_code for a in answers] == [200, 400, 200, 429]
    for answer in answers:
        assert answer.headers["ratelimit-policy"] == (
            '"api";q=3;w=3600, "api-concurrent";q=4;qu="concurrent-requests"'
        )
    assert [limit(a)["r"] for a in answers] == [2, 1, 0, 0]
    assert [limit(a)["free"] for a in answers[:3]] == [3, 3, 3]  # this request in flight
    assert all(1 <= limit(a)["t"] <= 1200 for a in answers)  # a token every 20 min


def test_every_search_like_route_of_every_kind_spends_the_same_quota(limited, api_key):
    """The list, its change feed and its stats (issue 20) each cost one request."""
    params = {"start_at": "2024-03-01", "end_at": "2024-03-02"}
    paths = [path for kind in KINDS.values() for path in (kind.path, kind.changes_path)]
    paths += [kind.stats_path for kind in KINDS.values()]
    with limited(rate_limit_quota=len(paths), rate_limit_window_s=3600) as client:
        answers = [client.get(p, params=params, headers={"x-api-key": api_key}) for p in paths]
        over = client.get(CDRS.stats_path, params=params, headers={"x-api-key": api_key})
    assert [limit(a)["r"] for a in answers] == list(range(len(paths) - 1, -1, -1))
    assert over.status_code == 429


def test_over_quota_is_a_429_in_the_error_shape_with_retry_after(limited, api_key):
    with limited(rate_limit_quota=1, rate_limit_window_s=3600) as client:
        client.get(SEARCH, headers={"x-api-key": api_key})
        refused = client.get(SEARCH, headers={"x-api-key": api_key})
    assert refused.status_code == 429
    wait = refused.headers["retry-after"]
    assert wait.isdigit() and 1 <= int(wait) <= 3600
    assert int(wait) == limit(refused)["t"]  # Retry-After and the effective window agree
    expected = error_body(
        429,
        "rate_limited",
        f"limite de requisições excedido; tente em {wait} s",
        request_id=refused.headers.get("x-request-id"),
    )
    assert refused.json() == expected


def test_refusals_are_counted_in_the_metrics_by_policy(limited, api_key):
    def refused() -> float:
        value = REGISTRY.get_sample_value("atende_rate_limited_total", {"policy": "api"})
        return value or 0.0

    before = refused()
    with limited(rate_limit_quota=1, rate_limit_window_s=3600, listen_host="127.0.0.1") as client:
        answers = [client.get(SEARCH, headers={"x-api-key": api_key}) for _ in range(3)]
        scraped = client.get("/metrics").text
    assert [a.status_code for a in answers] == [200, 429, 429]
    assert refused() == before + 2
    assert f'atende_rate_limited_total{{policy="api"}} {before + 2}' in scraped


def test_a_key_over_its_quota_leaves_its_neighbours_alone(store, limited, api_key):
    neighbour = store.create_api_key(store.create_customer("neighbour").id)[1]
    with limited(rate_limit_quota=2, rate_limit_window_s=3600) as client:
        statuses = [client.get(SEARCH, headers={"x-api-key": api_key}).status_code for _ in "abc"]
        other = client.get(SEARCH, headers={"x-api-key": neighbour})
    assert statuses == [200, 200, 429]
    assert other.status_code == 200 and limit(other)["r"] == 1


def test_requests_without_a_well_formed_key_share_their_address_quota(limited, api_key):
    with limited(rate_limit_quota=3, rate_limit_window_s=3600) as client:
        # A fresh made-up key each time: it must not buy a fresh bucket.
        made_up = [
            client.get(SEARCH, headers={"x-api-key": f"atl_live_{uuid.uuid4().hex}"})
            for _ in range(4)
        ]
        no_key = client.get(SEARCH)
        live = client.get(SEARCH, headers={"x-api-key": api_key})
    assert [a.status_code for a in made_up] == [401, 401, 401, 429]
    assert [limit(a)["r"] for a in made_up] == [2, 1, 0, 0]
    assert no_key.status_code == 429
    assert live.status_code == 200 and limit(live)["r"] == 2


def test_ingest_keys_have_their_own_policy(store, limited, api_key):
    ingest_key = store.create_ingest_key("rl producer")[1]
    customer = store.create_customer("rl ingest").id
    body = orjson.dumps({"callid": "c1", "ori_start_time": "2026-11-01T10:00:00-03:00"})
    settings = {"ingest_rate_limit_quota": 2, "ingest_rate_limit_window_s": 3600}
    with limited(**settings) as client:
        sent = [
            client.post(
                f"/ingest/customers/{customer}/cdrs",
                content=body,
                headers={"x-ingest-key": ingest_key, "content-type": "application/x-ndjson"},
            )
            for _ in range(3)
        ]
        search = client.get(SEARCH, headers={"x-api-key": api_key})
    assert [a.status_code for a in sent] == [200, 200, 429]
    assert sent[0].headers["ratelimit-policy"] == (
        '"ingest";q=2;w=3600, "ingest-concurrent";q=4;qu="concurrent-requests"'
    )
    assert [limit(a)["r"] for a in sent] == [1, 0, 0]
    assert search.status_code == 200 and limit(search)["r"] == 99  # the default quota


def test_other_routes_are_not_limited_and_the_limits_can_be_turned_off(limited, api_key):
    with limited(rate_limit_quota=1) as client:
        docs = [client.get("/openapi.json") for _ in range(3)]
    assert all(a.status_code == 200 and "ratelimit" not in a.headers for a in docs)
    with limited(rate_limit_quota=1, rate_limit_enabled=False) as client:
        free = [client.get(SEARCH, headers={"x-api-key": api_key}) for _ in range(3)]
    assert all(a.status_code == 200 and "ratelimit" not in a.headers for a in free)


def test_waiting_retry_after_lets_the_next_request_through(limited, api_key):
    clock = Clock()
    headers = {"x-api-key": api_key}
    with limited(MemoryBuckets(clock=clock), rate_limit_quota=1, rate_limit_window_s=4) as client:
        first = client.get(SEARCH, headers=headers)
        refused = client.get(SEARCH, headers=headers)
        wait = int(refused.headers["retry-after"])
        clock.now += wait - 0.5
        early = client.get(SEARCH, headers=headers)
        clock.now += 0.5  # Retry-After seconds after the refusal (which spent nothing)
        again = client.get(SEARCH, headers=headers)
    assert (first.status_code, refused.status_code, wait) == (200, 429, 4)
    assert early.status_code == 429  # less than Retry-After (it, too, spent nothing)
    assert again.status_code == 200


def test_waiting_retry_after_lets_the_next_request_through_on_redis(
    limited, api_key, redis_settings
):
    headers = {"x-api-key": api_key}
    with limited(rate_limit_quota=1, rate_limit_window_s=2, **redis_settings) as client:
        # Asked until refused, however slowly the requests go: then the bucket is empty.
        for _ in range(50):
            refused = client.get(SEARCH, headers=headers)
            if refused.status_code == 429:
                break
        assert refused.status_code == 429
        time.sleep(int(refused.headers["retry-after"]))
        again = client.get(SEARCH, headers=headers)
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    assert again.status_code == 200


def test_two_apps_on_one_redis_share_one_quota(limited, api_key, redis_settings):
    settings = {"rate_limit_quota": 4, "rate_limit_window_s": 600, **redis_settings}
    headers = {"x-api-key": api_key}
    with limited(**settings) as one, limited(**settings) as two:
        answers = []
        for client in (one, two, one, two, one, two):
            answers.append(client.get(SEARCH, headers=headers))
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429, 429]
    assert [limit(a)["r"] for a in answers] == [3, 2, 1, 0, 0, 0]


def test_redis_holds_the_keys_digest_never_the_key(limited, api_key, redis_settings):
    # A day's window: the bucket cannot fill up and expire before it is looked at.
    with limited(rate_limit_window_s=86_400, **redis_settings) as client:
        client.get(SEARCH, headers={"x-api-key": api_key})
        client.get(SEARCH)  # no key: the client address
    prefix = redis_settings["redis_key_prefix"]
    with redis.Redis.from_url(redis_settings["redis_url"]) as server:
        keys = {k.decode() for k in server.scan_iter(match=f"{prefix}*")}
        ttl = server.pttl(f"{prefix}api:key:{credentials.digest(api_key)}")
    assert keys == {
        f"{prefix}api:key:{credentials.digest(api_key)}",
        f"{prefix}api:addr:testclient",
        # The key worked: every process lets it past a block of its address.
        f"{prefix}authenticated:key:{credentials.digest(api_key)}",
    }
    assert not any(api_key in k for k in keys)
    # Gone once full again: 1 token at 100 a day (864 s), + 1 s.
    assert 800_000 < ttl <= 864_000 + 1_000


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again on leaving: nothing listens there


def test_an_unreachable_redis_falls_back_to_this_process_with_a_warning(limited, api_key, caplog):
    down = f"redis://127.0.0.1:{_closed_port()}/0"
    # The clock never moves: the pause after a failure never ends, however slow the test.
    buckets = RedisBuckets(down, "unused:", clock=Clock())
    with caplog.at_level(logging.WARNING, logger="atende_logs.ratelimit"):
        with limited(buckets, rate_limit_quota=3, rate_limit_window_s=3600) as client:
            answers = [client.get(SEARCH, headers={"x-api-key": api_key}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [limit(a)["r"] for a in answers] == [2, 1, 0, 0]
    warnings = [r.getMessage() for r in caplog.records if r.name == "atende_logs.ratelimit"]
    assert len(warnings) == 1  # then it stops asking Redis for a while, and stays quiet
    assert "Redis failed" in warnings[0]


# The concurrency cap, driven through the middleware with ASGI messages: requests held
# open on purpose, failing, or abandoned by their client.

KEY = credentials.generate(credentials.CUSTOMER_KEY)


def _scope(key: str = KEY) -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "path": SEARCH,
        "query_string": b"",
        "headers": [(b"x-api-key", key.encode())],
        "client": ("10.0.0.1", 4321),
    }


def _middleware(app: Any, cap: int = 2, **overrides: Any) -> RateLimitMiddleware:
    settings = Settings(
        **{
            **DEFAULT_LIMITS,
            "concurrent_requests_per_key": cap,
            "rate_limit_quota": 100,
            **overrides,
        }
    )
    return RateLimitMiddleware(app, settings, MemoryBuckets())


async def until(condition: Any) -> None:
    """Wait for ``condition``, giving other tasks the loop; fail past a generous deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not condition():
        assert loop.time() < deadline, "the condition never came true"
        await asyncio.sleep(0.001)


def _running(middleware: RateLimitMiddleware) -> int:
    return middleware.in_flight.running("key:" + credentials.digest(KEY))


async def _call(middleware: RateLimitMiddleware, receive: Receive | None = None) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def idle() -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    await middleware(_scope(), receive or idle, send)
    return sent


def _status_and_headers(sent: list[Message]) -> tuple[int, dict[str, str]]:
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def test_more_requests_in_flight_than_the_cap_get_429():
    async def scenario() -> None:
        release = asyncio.Event()

        async def held(scope: Scope, receive: Receive, send: Send) -> None:
            await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})

        middleware = _middleware(held, cap=2, db_threads_per_key=2)
        running = [asyncio.create_task(_call(middleware)) for _ in range(2)]
        await until(lambda: _running(middleware) == 2)
        refused = await _call(middleware)
        status, headers = _status_and_headers(refused)
        assert status == 429 and headers["retry-after"] == "1"
        assert headers["ratelimit"].endswith('"api-concurrent";r=0')
        assert orjson.loads(refused[1]["body"])["error"]["code"] == "concurrency_limited"
        release.set()
        assert [_status_and_headers(await task)[0] for task in running] == [200, 200]
        assert _running(middleware) == 0

    asyncio.run(scenario())


def test_a_request_that_fails_gives_its_slot_back():
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        middleware = _middleware(failing, cap=1)
        for _ in range(3):  # with the slot leaked, the second would get 429 instead
            with pytest.raises(RuntimeError):
                await _call(middleware)
        assert _running(middleware) == 0 and len(middleware.shares) == 0

    asyncio.run(scenario())


def test_a_client_that_goes_away_mid_stream_gives_its_slot_back():
    async def endless() -> Any:
        while True:
            yield b"row\n"
            await asyncio.sleep(0)

    async def scenario() -> None:
        middleware = _middleware(StreamingResponse(endless()), cap=1)
        gone = asyncio.Event()

        async def receive() -> Message:
            await gone.wait()
            return {"type": "http.disconnect"}

        streaming = asyncio.create_task(_call(middleware, receive))
        await until(lambda: _running(middleware) == 1)
        gone.set()
        await streaming
        assert _running(middleware) == 0 and len(middleware.shares) == 0

    asyncio.run(scenario())


def test_a_cancelled_request_gives_its_slot_back():
    async def forever(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.Event().wait()

    async def scenario() -> None:
        middleware = _middleware(forever, cap=1)
        task = asyncio.create_task(_call(middleware))
        await until(lambda: _running(middleware) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _running(middleware) == 0 and len(middleware.shares) == 0

    asyncio.run(scenario())


def test_the_openapi_document_describes_the_limits(limited):
    with limited(rate_limit_quota=7, rate_limit_window_s=70) as client:
        document = client.get("/openapi.json").json()
    paths = document["paths"]
    search = paths[SEARCH]["get"]["responses"]
    assert search["429"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "ErrorBody" in document["components"]["schemas"]
    assert search["429"]["headers"]["RateLimit-Policy"]["schema"]["example"] == (
        '"api";q=7;w=70, "api-concurrent";q=4;qu="concurrent-requests"'
    )
    assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(search["429"]["headers"])
    assert search["429"]["content"]["application/json"]["example"]["error"]["code"] == (
        "rate_limited"
    )
    assert all({"RateLimit", "RateLimit-Policy"} <= set(r["headers"]) for r in search.values())
    ingest = paths["/ingest/customers/{customer_id}/cdrs"]["post"]["responses"]
    assert ingest["429"]["headers"]["RateLimit-Policy"]["schema"]["example"].startswith(
        '"ingest";q=60;w=10'
    )


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_a_refusal_is_held_back_and_a_cancelled_one_lets_go():
    async def scenario() -> None:
        middleware = _middleware(_answer, rate_limit_quota=1, rate_limit_refusal_delay_ms=60_000)
        assert _status_and_headers(await _call(middleware))[0] == 200
        refusing = asyncio.create_task(_call(middleware))
        await until(lambda: middleware.delayed == 1)
        assert not refusing.done()  # asleep, not answered
        refusing.cancel()  # the client went away: nothing is left behind
        with pytest.raises(asyncio.CancelledError):
            await refusing
        assert middleware.delayed == 0

    asyncio.run(scenario())


def test_refusals_past_the_cap_on_held_ones_are_answered_at_once():
    async def scenario() -> None:
        middleware = _middleware(_answer, rate_limit_quota=1, rate_limit_refusal_delay_ms=60_000)
        middleware.max_delayed = 0
        await _call(middleware)
        refused = await asyncio.wait_for(_call(middleware), timeout=DEADLINE_S)  # not 60 s
        assert _status_and_headers(refused)[0] == 429

    asyncio.run(scenario())
