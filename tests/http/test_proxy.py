"""Behind a proxy: the per-address limits count the real client a trusted proxy names in
X-Forwarded-For, and nothing an untrusted peer claims.

Without this, every customer behind a load balancer shares its address, and 20 forged keys
from anyone lock them all out (issue 21, 2.1). The trust is applied inside the app, so the
in-process app behaves as a served one; both are tested.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from _limits import DEFAULT_LIMITS
from atende_logs import credentials
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.storage import Store, open_store
from bench.server import Server

SEARCH = "/customers/cdrs/logs"
QUOTA = 2
LIMITS: dict[str, Any] = DEFAULT_LIMITS | {
    "auth_failure_quota": QUOTA,
    "auth_failure_window_s": 3600,  # no failure comes back during a test
}
PROXY = ("10.1.2.3", 40000)
"""The load balancer's address, as the server sees the connection."""


@pytest.fixture(scope="module")
def store(sqlite_url: str) -> Iterator[Store]:
    """SQLite only: addresses are counted before any database work."""
    opened = open_store(Settings(database_url=sqlite_url))
    yield opened
    opened.close()


def live_key(store: Store) -> str:
    return store.create_api_key(store.create_customer(f"px {uuid.uuid4().hex[:8]}").id)[1]


def forged() -> str:
    return credentials.generate(credentials.CUSTOMER_KEY)


@pytest.fixture
def app_from(store: Store, sqlite_url: str) -> Any:
    """Opens a client whose connections come from ``peer``, the app trusting ``trusted``."""

    @contextmanager
    def open_client(peer: tuple[str, int], **settings: Any) -> Iterator[TestClient]:
        configured = Settings(database_url=sqlite_url, **{**LIMITS, **settings})
        with TestClient(create_app(configured, store=store), client=peer) as client:
            yield client

    return open_client


def search(client: TestClient | httpx.Client, key: str, forwarded_for: str | None) -> int:
    headers = {"x-api-key": key}
    if forwarded_for is not None:
        headers["x-forwarded-for"] = forwarded_for
    return client.get(SEARCH, headers=headers).status_code


def test_customers_behind_a_trusted_proxy_are_counted_apart(app_from, store):
    key = live_key(store)
    with app_from(PROXY, forwarded_allow_ips="10.0.0.0/8") as client:
        forger = [search(client, forged(), "198.51.100.1") for _ in range(QUOTA + 1)]
        customer = search(client, key, "198.51.100.2")  # never seen: no pass to show
        from_the_forger = search(client, live_key(store), "198.51.100.1")
    assert forger == [401] * QUOTA + [429]
    assert customer == 200  # the fault of the issue: this was 429 for everyone
    assert from_the_forger == 429


def test_a_proxy_not_trusted_counts_as_the_client_whatever_it_claims(app_from, store):
    with app_from(("203.0.113.50", 40000), forwarded_allow_ips="10.0.0.0/8") as client:
        # A fresh made-up X-Forwarded-For each time: it must not buy a fresh quota.
        spoofed = [search(client, forged(), f"192.0.2.{n}") for n in range(QUOTA + 2)]
        customer = search(client, live_key(store), "192.0.2.200")
    assert spoofed == [401] * QUOTA + [429, 429]
    assert customer == 429  # its address is the peer's, blocked


def test_only_the_hops_after_the_trusted_proxies_count(app_from):
    """Each proxy appends the address it saw: the client can write whatever it likes on the
    left, so the address used is the right-most one no trusted proxy wrote."""
    with app_from(PROXY, forwarded_allow_ips="10.0.0.0/8") as client:
        chains = [f"192.0.2.{n}, 198.51.100.9, 10.9.9.9" for n in range(QUOTA + 2)]
        statuses = [search(client, forged(), chain) for chain in chains]
    assert statuses == [401] * QUOTA + [429, 429]


@pytest.mark.parametrize(
    ("peer", "trusted", "counted_apart"),
    [
        (("127.0.0.1", 40000), None, True),  # the default: loopback, as uvicorn's
        (("::1", 40000), None, True),
        (PROXY, None, False),
        (("127.0.0.1", 40000), "", False),  # trust none
        (("203.0.113.7", 40000), "*", True),  # trust any
        (("10.1.2.3", 40000), "10.1.2.3, 10.1.2.4", True),
    ],
)
def test_which_peers_are_trusted(app_from, store, peer, trusted, counted_apart):
    settings = {} if trusted is None else {"forwarded_allow_ips": trusted}
    with app_from(peer, **settings) as client:
        for _ in range(QUOTA):
            search(client, forged(), "198.51.100.3")
        other = search(client, live_key(store), "198.51.100.4")
    assert other == (200 if counted_apart else 429)


@pytest.mark.parametrize(("trusted", "customer"), [(None, 200), ("", 429)])
def test_a_real_server_applies_the_trust_it_is_given(
    store: Store, sqlite_url: str, tmp_path: Path, trusted: str | None, customer: int
) -> None:
    """``serve`` passes --forwarded-allow-ips to the app, and uvicorn's own proxy headers
    (which trust loopback by default) do not apply it a second time."""
    options = [] if trusted is None else ["--forwarded-allow-ips", trusted]
    env = {
        "ATENDE_AUTH_FAILURE_QUOTA": str(QUOTA),
        "ATENDE_AUTH_FAILURE_WINDOW_S": "3600",
        "ATENDE_RATE_LIMIT_REFUSAL_DELAY_MS": "0",
    }
    key = live_key(store)
    with Server(sqlite_url, tmp_path / "server.log", *options, env=env) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:  # from 127.0.0.1
            forger = [search(client, forged(), "198.51.100.5") for _ in range(QUOTA + 1)]
            answered = search(client, key, "198.51.100.6")
    assert forger == [401] * QUOTA + [429]
    assert answered == customer
