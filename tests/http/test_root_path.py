"""Under a root path (``serve --root-path /api`` behind a proxy that serves the API under
/api) the app sees ``path`` /api/customers/… and routes /customers/…: everything that
picks requests by path before routing must compare the same route path, or it silently
stops applying (issue 21, 2.2: four requests against a quota of two all got 200)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from starlette._utils import get_route_path

from _limits import DEFAULT_LIMITS
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.paths import route_path
from atende_logs.storage import Store, open_store
from bench.server import Server

SEARCH = "/customers/cdrs/logs"
QUOTA = {"rate_limit_quota": 2, "rate_limit_window_s": 3600}


@pytest.fixture(scope="module")
def store(sqlite_url: str) -> Iterator[Store]:
    opened = open_store(Settings(database_url=sqlite_url))
    yield opened
    opened.close()


@pytest.fixture
def api_key(store: Store) -> str:
    return store.create_api_key(store.create_customer(f"rp {uuid.uuid4().hex[:8]}").id)[1]


segments = st.sampled_from(["", "/", "/api", "/api/", "/apix", "/customers", "/a/b", "/ap"])


@given(root=segments, rest=segments)
def test_route_path_is_starlettes(root: str, rest: str) -> None:
    scope = {"type": "http", "path": root + rest, "root_path": root}
    assert route_path(scope) == get_route_path(scope)  # type: ignore[arg-type]
    assert route_path({"type": "http", "path": rest}) == rest  # no root path at all


def test_the_limits_hold_under_a_root_path_in_process(store: Store, sqlite_url: str, api_key):
    settings = Settings(database_url=sqlite_url, **{**DEFAULT_LIMITS, **QUOTA})
    app = create_app(settings, store=store)
    with TestClient(app, root_path="/api") as client:  # the path as uvicorn hands it over
        answers = [client.get("/api" + SEARCH, headers={"x-api-key": api_key}) for _ in "abcd"]
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert all(a.headers["ratelimit-policy"].startswith('"api";q=2;') for a in answers)


def test_probes_are_still_left_out_of_the_access_log(store: Store, sqlite_url: str, caplog):
    settings = Settings(database_url=sqlite_url, listen_host="127.0.0.1")
    with TestClient(create_app(settings, store=store), root_path="/api") as client:
        with caplog.at_level(logging.INFO, logger="atende_logs.access"):
            statuses = [client.get(f"/api{p}").status_code for p in ("/healthz", "/metrics")]
            client.get("/api" + SEARCH)  # no key: logged
    logged = [
        orjson.loads(r.getMessage()) for r in caplog.records if r.name == "atende_logs.access"
    ]
    assert statuses == [200, 200]
    assert [(line["path"], line["status"]) for line in logged] == [("/api" + SEARCH, 401)]


def test_the_limits_hold_under_a_root_path_on_a_real_server(
    sqlite_url: str, api_key: str, tmp_path: Path
) -> None:
    env = {"ATENDE_RATE_LIMIT_QUOTA": "2", "ATENDE_RATE_LIMIT_WINDOW_S": "3600"}
    env["ATENDE_RATE_LIMIT_REFUSAL_DELAY_MS"] = "0"
    with Server(sqlite_url, tmp_path / "server.log", "--root-path", "/api", env=env) as server:
        headers = {"x-api-key": api_key}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            # The proxy strips /api before forwarding; uvicorn puts it back in the path.
            answers = [client.get(SEARCH) for _ in "abcd"]
            documented = client.get("/openapi.json").json()
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert all("ratelimit" in a.headers for a in answers)
    assert documented["servers"] == [{"url": "/api"}]  # links built under the root path
