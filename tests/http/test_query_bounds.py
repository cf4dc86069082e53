"""Query strings over ATENDE_MAX_QUERY_BYTES get 414 before any parsing or database work;
and what uvicorn itself does with request heads beyond that (docs/api.md, "Limits")."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import given
from hypothesis import strategies as st

from _remote import Server
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.storage import Store

LIMIT = 1024
PATHS = ["/customers/cdrs/logs", "/customers/attendants/logs", "/customers/dialer-queue/cards"]


@pytest.fixture(scope="module")
def bounded(app_settings: Settings, store: Store) -> Iterator[TestClient]:
    """The app with a 1 KiB query limit."""
    settings = app_settings.model_copy(update={"max_query_bytes": LIMIT})
    with TestClient(create_app(settings, store=store)) as client:
        yield client


def query_of(length: int) -> str:
    """A query string of exactly ``length`` bytes: one parameter the endpoints do not have."""
    assert length >= 3
    return "q=" + "a" * (length - 2)


def assert_query_too_long(response: Response) -> None:
    assert response.status_code == 414
    body = orjson.loads(response.content)
    assert body == {
        "error": {
            "status": 414,
            "code": "query_too_long",
            "message": f"a query string passa do limite de {LIMIT} bytes",
            "request_id": response.headers["x-request-id"],
        }
    }


def test_default_limit_is_8_kib() -> None:
    assert Settings().max_query_bytes == 8 * 1024


@pytest.mark.parametrize("path", PATHS)
def test_exactly_at_the_limit_is_parsed(bounded: TestClient, api_key: str, path: str) -> None:
    response = bounded.get(f"{path}?{query_of(LIMIT)}", headers={"x-api-key": api_key})
    # Past the bound: the parser ran, and named the unknown parameter.
    assert response.status_code == 400
    code = orjson.loads(response.content)["error"]["code"]
    assert code in {"unknown_parameter", "missing_parameter"}  # cards: token checked too


@pytest.mark.parametrize("path", PATHS)
def test_one_byte_over_gets_414(bounded: TestClient, api_key: str, path: str) -> None:
    assert_query_too_long(
        bounded.get(f"{path}?{query_of(LIMIT + 1)}", headers={"x-api-key": api_key})
    )


def test_refused_before_the_key_is_looked_up(bounded: TestClient) -> None:
    """No key, a bad key, an ingest route: still 414, not 401. Nothing ran but the bound."""
    over = query_of(LIMIT + 1)
    assert_query_too_long(bounded.get(f"/customers/cdrs/logs?{over}"))
    assert_query_too_long(
        bounded.get(f"/customers/cdrs/logs?{over}", headers={"x-api-key": "atl_live_nope"})
    )
    assert_query_too_long(bounded.post(f"/ingest/customers/1/cdrs?{over}", content=b"{}"))
    assert_query_too_long(bounded.get(f"/healthz?{over}"))


def test_bytes_are_counted_as_sent(bounded: TestClient, api_key: str) -> None:
    """Percent-escapes count as the bytes on the wire (3 per escaped byte), not decoded."""
    escaped = "q=" + "%C3%A9" * ((LIMIT - 2) // 6)  # "é" encoded: 6 bytes each
    within = escaped + "a" * (LIMIT - len(escaped))
    assert len(within) == LIMIT
    response = bounded.get(f"/customers/cdrs/logs?{within}", headers={"x-api-key": api_key})
    assert response.status_code == 400
    assert_query_too_long(
        bounded.get(f"/customers/cdrs/logs?{within}a", headers={"x-api-key": api_key})
    )


@given(length=st.integers(min_value=3, max_value=3 * LIMIT))
def test_414_exactly_when_over(bounded: TestClient, length: int) -> None:
    response = bounded.get(f"/healthz?{query_of(length)}")
    assert response.status_code == (414 if length > LIMIT else 200)


def _raw_status(port: int, head: bytes) -> bytes:
    """The status line and headers a server answers to a raw request head."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_a_real_server_bounds_queries_and_uvicorn_the_url(sqlite_url: str, tmp_path: Path) -> None:
    """What docs/api.md says of a real ``atende-logs serve``: our JSON 414 over 8 KiB; over
    64 KiB of URL, uvicorn (httptools) answers a plain 400 itself; headers it does not
    bound, which is why the docs ask for a proxy in front."""
    with Server(sqlite_url, tmp_path / "server.log") as server:
        ours = _raw_status(
            server.port,
            b"GET /healthz?" + query_of(8 * 1024 + 1).encode() + b" HTTP/1.1\r\nHost: t\r\n"
            b"Connection: close\r\n\r\n",
        )
        assert ours.startswith(b"HTTP/1.1 414 ") and b"application/json" in ours
        huge_url = _raw_status(
            server.port,
            b"GET /healthz?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        assert huge_url.startswith(b"HTTP/1.1 400 ")
        huge_header = _raw_status(
            server.port,
            b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: "
            + b"a" * 1_000_000
            + b"\r\nConnection: close\r\n\r\n",
        )
        assert huge_header.startswith(b"HTTP/1.1 200 ")
