"""Who may read /metrics (issue 21, 2.6): with ATENDE_METRICS_TOKEN, its bearers, a wrong
token spending its address's failed authentications as a forged key does; without it,
only a server that listens on loopback alone, and only requests no proxy forwarded.
Anything else gets 403, so an app that does not know where it listens fails closed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from _limits import DEFAULT_LIMITS
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.storage import Store
from bench.server import Server

TOKEN = "s3cret-scrape-token"


@pytest.fixture
def app_with(app_settings: Settings, store: Store) -> Any:
    @contextmanager
    def open_client(**settings: Any) -> Iterator[TestClient]:
        configured = Settings(database_url=app_settings.database_url, **settings)
        with TestClient(create_app(configured, store=store)) as client:
            yield client

    return open_client


@pytest.mark.parametrize(
    ("listen_host", "status"),
    [
        ("127.0.0.1", 200),
        ("127.0.0.2", 200),
        ("::1", 200),
        ("[::1]", 200),
        ("localhost", 200),
        (None, 403),  # an app served by other means: it may be reachable from anywhere
        ("0.0.0.0", 403),
        ("::", 403),
        ("10.0.0.7", 403),
        ("metrics.example.com", 403),
    ],
)
def test_without_a_token_only_a_loopback_server_answers(app_with, listen_host, status):
    with app_with(listen_host=listen_host) as client:
        response = client.get("/metrics")
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"]["code"] == "metrics_token_unset"
        assert "ATENDE_METRICS_TOKEN" in response.json()["error"]["message"]
    else:
        assert "atende_http_requests" in response.text


@pytest.mark.parametrize("header", ["x-forwarded-for", "forwarded", "x-real-ip"])
def test_without_a_token_a_forwarded_request_is_refused_even_on_loopback(app_with, header):
    """A proxy on the same host reaches a loopback server for anyone on the internet."""
    with app_with(listen_host="127.0.0.1") as client:
        response = client.get("/metrics", headers={header: "203.0.113.9"})
    assert response.status_code == 403


def test_with_a_token_it_is_required_wherever_the_server_listens(app_with):
    with app_with(listen_host="127.0.0.1", metrics_token=SecretStr(TOKEN)) as client:
        missing = client.get("/metrics")
        right = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert missing.status_code == 401
    assert right.status_code == 200


def test_wrong_tokens_spend_the_address_failures_like_forged_keys(app_with):
    limits = DEFAULT_LIMITS | {"auth_failure_quota": 2, "auth_failure_window_s": 3600}
    bearer = {"authorization": f"Bearer {TOKEN}"}
    with app_with(metrics_token=SecretStr(TOKEN), **limits) as client:
        missing = [client.get("/metrics").status_code for _ in range(3)]  # no guess: free
        scraped = client.get("/metrics", headers=bearer).status_code  # known from now on
        wrong = [
            client.get("/metrics", headers={"authorization": f"Bearer guess-{n}"}) for n in range(3)
        ]
        still = client.get("/metrics", headers=bearer).status_code
        keyless = client.get("/customers/cdrs/logs").status_code  # the same address
    assert missing == [401, 401, 401] and scraped == 200
    assert [r.status_code for r in wrong] == [401, 401, 429]
    refused = wrong[-1]
    assert refused.json()["error"]["code"] == "auth_failures_limited"
    assert refused.headers["retry-after"] == "1800"
    assert still == 200  # the scraper that worked keeps working, as a customer's key does
    assert keyless == 429


def test_a_server_listening_beyond_loopback_refuses_scrapes_without_a_token(
    sqlite_url: str, tmp_path: Path
) -> None:
    with Server(sqlite_url, tmp_path / "server.log", "--host", "0.0.0.0") as server:
        open_ = httpx.get(f"{server.url}/metrics", timeout=30)
    assert open_.status_code == 403
    log = (tmp_path / "server.log").read_text()
    assert "ATENDE_METRICS_TOKEN is unset and the server listens on 0.0.0.0" in log


def test_a_server_on_loopback_answers_scrapes_without_a_token(
    sqlite_url: str, tmp_path: Path
) -> None:
    with Server(sqlite_url, tmp_path / "server.log", "--host", "127.0.0.1") as server:
        direct = httpx.get(f"{server.url}/metrics", timeout=30)
        forwarded = httpx.get(f"{server.url}/metrics", headers={"x-forwarded-for": "1.2.3.4"})
    assert direct.status_code == 200 and "atende_http_requests" in direct.text
    assert forwarded.status_code == 403
