"""Forged keys: a client address out of failed authentications gets 429 before any lookup.

The checksum of a key is no secret, so anyone can mint well-formed keys, each with a bucket
of its own. What stops them is the "auth-failures" bucket of their client address; what
keeps customers behind the same address working is that a key which got a 2xx answer
passes the block. Buckets live in this process, or in the real Redis of
ATENDE_TEST_REDIS_URL under a prefix of this test's own.

The window is an hour, so no failure comes back during a test however slow the machine;
the one test of a failure coming back spends the quota until it is refused, then sleeps
the Retry-After it was given.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from starlette.types import ASGIApp, Receive, Scope, Send

from _limits import DEFAULT_LIMITS
from atende_logs import credentials
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.errors import error_body
from atende_logs.storage import Store, open_store

SEARCH = "/customers/cdrs/logs"
QUOTA = 3
WINDOW_S = 3600
"""Three failures per address, one back every 20 minutes: the tests never see one come
back unless they wait for it."""

DEFAULTS: dict[str, Any] = DEFAULT_LIMITS | {
    "auth_failure_quota": QUOTA,
    "auth_failure_window_s": WINDOW_S,
}


class Lookups:
    """Counts the store's key lookups: the database work the block must spare."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        for name in ("authenticate", "authenticate_ingest"):
            monkeypatch.setattr(store, name, self._counting(getattr(store, name)))

    def _counting(self, lookup: Callable[[str], Any]) -> Callable[[str], Any]:
        def counted(secret: str) -> Any:
            self.count += 1
            return lookup(secret)

        return counted


@pytest.fixture(scope="module")
def store(sqlite_url: str) -> Iterator[Store]:
    """SQLite only: the block acts before any database work, so the backend is moot."""
    opened = open_store(Settings(database_url=sqlite_url))
    yield opened
    opened.close()


@pytest.fixture
def new_key(store: Store) -> Callable[[], str]:
    """Makes a live customer key of a customer of its own."""

    def make() -> str:
        customer = store.create_customer(f"af {uuid.uuid4().hex[:8]}")
        return store.create_api_key(customer.id)[1]

    return make


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """Where the buckets live: this process, or the test Redis under this test's prefix."""
    if request.param == "memory":
        return {}
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    return {"redis_url": url, "redis_key_prefix": f"{prefix}{request.node.name}:"}


ADDRESS = "x-test-client-address"


def behind_proxy(app: ASGIApp) -> ASGIApp:
    """``app``, seeing each request come from the address its ``ADDRESS`` header names, as a
    trusted proxy's forwarded address would (one TestClient, one event loop, many clients)."""

    async def addressed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = dict(scope["headers"]).get(ADDRESS.encode())
            if found is not None:
                scope = {**scope, "client": (found.decode(), 50000)}
        await app(scope, receive, send)

    return addressed


@dataclass
class Client:
    """Requests from one client address."""

    app: TestClient
    address: str

    def get(self, path: str, headers: dict[str, str]) -> Any:
        return self.app.get(path, headers={ADDRESS: self.address, **headers})

    def post(self, path: str, headers: dict[str, str], content: bytes = b"") -> Any:
        return self.app.post(path, content=content, headers={ADDRESS: self.address, **headers})


@pytest.fixture
def limited(store: Store, sqlite_url: str, backend: dict[str, str]) -> Any:
    """Opens an app with the tests' limits on ``backend``; yields its clients by address."""

    @contextmanager
    def open_app(**overrides: Any) -> Iterator[Callable[[str], Client]]:
        settings = Settings(database_url=sqlite_url, **{**DEFAULTS, **backend, **overrides})
        with TestClient(behind_proxy(create_app(settings, store=store))) as app:
            yield lambda address: Client(app, address)

    return open_app


def forged() -> str:
    """A fresh key of the right form and checksum that was never issued."""
    return credentials.generate(credentials.CUSTOMER_KEY)


def search(client: Client, key: str | None) -> Any:
    return client.get(SEARCH, headers={"x-api-key": key} if key else {})


def test_forged_keys_from_one_address_get_429_past_the_quota(limited, store, monkeypatch):
    lookups = Lookups(store, monkeypatch)
    with limited() as client_at:
        attacker = client_at("198.51.100.7")
        answers = [search(attacker, forged()) for _ in range(QUOTA + 3)]
    assert [a.status_code for a in answers] == [401] * QUOTA + [429] * 3
    assert lookups.count == QUOTA  # the refused ones never reached the database
    refused = answers[-1]
    wait = refused.headers["retry-after"]
    assert wait == str(WINDOW_S // QUOTA)  # one failure comes back every 20 s
    assert refused.json() == error_body(
        429,
        "auth_failures_limited",
        f"autenticações recusadas demais a partir deste endereço; tente em {wait} s",
        request_id=refused.headers["x-request-id"],
    )
    assert refused.headers["ratelimit-policy"] == f'"auth-failures";q={QUOTA};w={WINDOW_S}'
    assert refused.headers["ratelimit"] == f'"auth-failures";r=0;t={wait}'


def test_a_key_that_authenticated_keeps_working_from_a_blocked_address(limited, new_key):
    customer, newcomer = new_key(), new_key()
    with limited() as client_at:
        office = client_at("198.51.100.8")  # one NAT address: a customer and a forger
        first = search(office, customer)
        forgeries = [search(office, forged()) for _ in range(QUOTA + 1)]
        later = [search(office, customer) for _ in range(3)]
        without_key = search(office, None)
        unseen = search(office, newcomer)
    assert first.status_code == 200
    assert [a.status_code for a in forgeries] == [401] * QUOTA + [429]
    assert [a.status_code for a in later] == [200, 200, 200]
    assert later[-1].headers["ratelimit-policy"].startswith('"api";q=100;w=10')
    # The price of the block: a key this process has not seen succeed waits like the forger.
    assert without_key.json()["error"]["code"] == "auth_failures_limited"
    assert unseen.json()["error"]["code"] == "auth_failures_limited"


def test_another_address_is_not_affected(limited, new_key):
    key = new_key()
    with limited() as client_at:
        for _ in range(QUOTA + 1):
            search(client_at("198.51.100.9"), forged())
        elsewhere = client_at("203.0.113.5")
        answers = [search(elsewhere, forged()), search(elsewhere, key), search(elsewhere, None)]
    assert [a.status_code for a in answers] == [401, 200, 401]


def test_revocation_still_takes_effect_on_the_next_request(limited, store):
    customer = store.create_customer(f"af {uuid.uuid4().hex[:8]}")
    info, key = store.create_api_key(customer.id)
    with limited() as client_at:
        office = client_at("198.51.100.10")
        assert search(office, key).status_code == 200
        for _ in range(QUOTA):
            search(office, forged())
        assert search(office, forged()).status_code == 429  # the address is blocked now
        assert search(office, key).status_code == 200  # but the key passes
        assert store.revoke_api_key(info.id)
        revoked = search(office, key)
        again = search(office, key)
    assert revoked.status_code == 401  # looked up as ever, and refused
    # Its pass went with its success: from now on it waits like any other failed key.
    assert again.status_code == 429 and again.json()["error"]["code"] == "auth_failures_limited"


def test_only_a_2xx_answer_lets_a_key_past_the_block(limited):
    key = forged()
    with limited() as client_at:
        attacker = client_at("198.51.100.11")
        # The search route has no POST: a 405 that never looked the key up.
        not_allowed = attacker.post(SEARCH, headers={"x-api-key": key})
        failures = [search(attacker, forged()) for _ in range(QUOTA)]
        after = search(attacker, key)
    assert not_allowed.status_code == 405
    assert [a.status_code for a in failures] == [401] * QUOTA
    assert after.status_code == 429


def test_forged_ingest_keys_spend_the_same_address_quota(limited, store, new_key):
    key, customer = new_key(), store.create_customer("af ingest").id
    body = orjson.dumps({"callid": "c1", "ori_start_time": "2026-11-01T10:00:00-03:00"})
    with limited() as client_at:
        producer = client_at("198.51.100.12")
        sent = [
            producer.post(
                f"/ingest/customers/{customer}/cdrs",
                content=body,
                headers={
                    "x-ingest-key": credentials.generate(credentials.INGEST_KEY),
                    "content-type": "application/x-ndjson",
                },
            )
            for _ in range(QUOTA + 1)
        ]
        searched = search(producer, key)
    assert [a.status_code for a in sent] == [401] * QUOTA + [429]
    assert searched.json()["error"]["code"] == "auth_failures_limited"


def test_malformed_and_missing_keys_cost_no_lookup_and_spend_no_failure(limited):
    with limited() as client_at:
        client = client_at("198.51.100.13")
        cheap = [search(client, key) for key in [None, "atl_live_nonsense"] * QUOTA]
        forgery = search(client, forged())
    assert [a.status_code for a in cheap] == [401] * (2 * QUOTA)
    assert forgery.status_code == 401  # the address still had all its failures


def test_a_failure_comes_back_after_retry_after(limited):
    with limited(auth_failure_quota=1, auth_failure_window_s=2) as client_at:
        client = client_at("198.51.100.14")
        # Asked until refused, however slowly the requests go: then the quota is spent.
        for _ in range(50):
            refused = search(client, forged())
            if refused.status_code == 429:
                break
        assert refused.status_code == 429
        time.sleep(int(refused.headers["retry-after"]))
        again = search(client, forged())
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    assert again.status_code == 401  # looked up again, and refused by the database


def test_refusals_are_counted_in_the_metrics(limited):
    def refused() -> float:
        sample = REGISTRY.get_sample_value("atende_rate_limited_total", {"policy": "auth-failures"})
        return sample or 0.0

    before = refused()
    with limited() as client_at:
        client = client_at("198.51.100.15")
        for _ in range(QUOTA + 2):
            search(client, forged())
    assert refused() == before + 2


def test_two_apps_on_one_redis_share_the_address_quota(store, sqlite_url, redis_url, redis_prefix):
    shared = {"redis_url": redis_url, "redis_key_prefix": f"{redis_prefix}shared-failures:"}
    settings = Settings(database_url=sqlite_url, **{**DEFAULTS, **shared})
    with (
        TestClient(behind_proxy(create_app(settings, store=store))) as one,
        TestClient(behind_proxy(create_app(settings, store=store))) as two,
    ):
        answers = []
        for app in (one, two, one, two):
            answers.append(search(Client(app, "198.51.100.16"), forged()))
    assert [a.status_code for a in answers] == [401, 401, 401, 429]


def test_a_key_that_worked_in_one_process_passes_the_block_in_another(
    store, sqlite_url, redis_url, redis_prefix, new_key
):
    """Behind a load balancer every customer shares its address, so a forger there blocks
    them all, in every process, and each process must know the keys that worked."""
    shared = {"redis_url": redis_url, "redis_key_prefix": f"{redis_prefix}noted-keys:"}
    settings = Settings(database_url=sqlite_url, **{**DEFAULTS, **shared})
    customer, newcomer = new_key(), new_key()
    with (
        TestClient(behind_proxy(create_app(settings, store=store))) as one,
        TestClient(behind_proxy(create_app(settings, store=store))) as two,
    ):
        office_one, office_two = Client(one, "198.51.100.17"), Client(two, "198.51.100.17")
        worked = search(office_one, customer)
        forgeries = [search(office_two, forged()) for _ in range(QUOTA + 1)]
        elsewhere = search(office_two, customer)  # the second process never saw it work
        unseen = search(office_two, newcomer)
    assert worked.status_code == 200
    assert [a.status_code for a in forgeries] == [401] * QUOTA + [429]
    assert elsewhere.status_code == 200
    assert unseen.json()["error"]["code"] == "auth_failures_limited"


def test_a_key_revoked_loses_its_pass_in_every_process(store, sqlite_url, redis_url, redis_prefix):
    shared = {"redis_url": redis_url, "redis_key_prefix": f"{redis_prefix}revoked-note:"}
    settings = Settings(database_url=sqlite_url, **{**DEFAULTS, **shared})
    info, key = store.create_api_key(store.create_customer(f"af {uuid.uuid4().hex[:8]}").id)
    with (
        TestClient(behind_proxy(create_app(settings, store=store))) as one,
        TestClient(behind_proxy(create_app(settings, store=store))) as two,
        TestClient(behind_proxy(create_app(settings, store=store))) as three,
    ):
        address = "198.51.100.18"
        assert search(Client(one, address), key).status_code == 200
        assert store.revoke_api_key(info.id)
        revoked = search(Client(two, address), key)  # passes the (open) block, 401
        for _ in range(QUOTA):
            search(Client(one, address), forged())
        later = search(Client(three, address), key)
    assert revoked.status_code == 401
    assert later.json()["error"]["code"] == "auth_failures_limited"  # its note is gone


def test_the_openapi_document_describes_the_block(store, sqlite_url):
    settings = Settings(database_url=sqlite_url, **DEFAULTS)
    with TestClient(create_app(settings, store=store)) as client:
        paths = client.get("/openapi.json").json()["paths"]
    for operation in (paths[SEARCH]["get"], paths["/ingest/customers/{customer_id}/cdrs"]["post"]):
        description = operation["responses"]["429"]["description"]
        assert "`auth_failures_limited`" in description
        assert f"{QUOTA} failed authentications (refilled over {WINDOW_S} s)" in description
