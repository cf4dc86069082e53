"""An export whose database fails: before the first byte, the usual JSON error; after it, a
response that never completes, so no client can take a short file for a whole one.

The database failure is injected at the store's edge (its ``scan`` raises what a statement
timeout raises); everything else is the real app over the session's real store. The app is
driven at the ASGI level, where "the response ended without its final chunk" is visible:
the test client would show that as a body that merely ends. test_export_server.py shows
what a client of a real server sees.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message

from _export_data import BASE_MS, make_docs, new_tenant, put
from atende_logs.config import Settings
from atende_logs.errors import QueryTimeoutError
from atende_logs.export import stream
from atende_logs.http import create_app
from atende_logs.models import Chunk, SearchQuery
from atende_logs.storage import Store


class FailingStore:
    """The real store, except that its ``scan`` fails from the ``fail_from``-th call on."""

    def __init__(self, store: Store, fail_from: int) -> None:
        self._store = store
        self._fail_from = fail_from
        self.scans = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def scan(self, query: SearchQuery, limit: int) -> Chunk:
        self.scans += 1
        if self.scans >= self._fail_from:
            raise QueryTimeoutError("a consulta excedeu o tempo limite")
        return self._store.scan(query, limit)


async def exchange(app: ASGIApp, path: str, params: dict[str, str], key: str) -> list[Message]:
    """One request, as a server makes it: every message the app sent back, in order."""
    sent: list[Message] = []
    finished = anyio.Event()
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},  # what uvicorn announces
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": urlencode(params).encode(),
        "headers": [(b"host", b"testserver"), (b"x-api-key", key.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    finished.set()
    return sent


@pytest.fixture
def cdrs_tenant(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    """A customer with 10 CDRs, exported 3 at a time."""
    monkeypatch.setattr(stream, "CHUNK_ROWS", 3)
    tenant = new_tenant(store)
    put(
        store, tenant, "cdrs", make_docs("cdrs", [BASE_MS + n for n in range(10)], random.Random(0))
    )
    yield tenant.key, 10


def _run(
    app_settings: Settings, store: FailingStore, params: dict[str, str], key: str
) -> list[Message]:
    app = create_app(app_settings, store=store)  # type: ignore[arg-type]
    with TestClient(app) as client:
        assert client.portal is not None
        return client.portal.call(exchange, app, "/customers/cdrs/logs", params, key)


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_a_failure_after_the_first_byte_leaves_the_response_incomplete(
    app_settings: Settings,
    store: Store,
    cdrs_tenant: tuple[str, int],
    caplog: pytest.LogCaptureFixture,
    fmt: str,
) -> None:
    key, _ = cdrs_tenant
    failing = FailingStore(store, fail_from=3)
    with caplog.at_level(logging.ERROR, logger="atende_logs.http"):
        messages = _run(app_settings, failing, {"format": fmt}, key)

    start, *bodies = messages
    assert (start["type"], start["status"]) == ("http.response.start", 200)
    assert [m["type"] for m in bodies] == ["http.response.body"] * 2
    assert all(m["more_body"] for m in bodies)  # never the final, empty, more_body=False
    lines = b"".join(m["body"] for m in bodies).splitlines()
    assert len(lines) == 6 + (fmt == "csv")  # two chunks of 3 (and the header) arrived
    assert failing.scans == 3
    [record] = [r for r in caplog.records if "stopped" in r.getMessage()]
    assert record.getMessage() == (
        "export of /customers/cdrs/logs stopped after reading 6 items: "
        "a consulta excedeu o tempo limite"
    )


def test_a_complete_export_ends_with_its_final_chunk(
    app_settings: Settings, store: Store, cdrs_tenant: tuple[str, int]
) -> None:
    key, count = cdrs_tenant
    messages = _run(app_settings, FailingStore(store, fail_from=99), {"format": "ndjson"}, key)
    assert messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert b"".join(m.get("body", b"") for m in messages).count(b"\n") == count


def test_a_failure_before_the_first_byte_is_a_json_error(
    app_settings: Settings, store: Store, cdrs_tenant: tuple[str, int]
) -> None:
    key, _ = cdrs_tenant
    app = create_app(app_settings, store=FailingStore(store, fail_from=1))  # type: ignore[arg-type]
    with TestClient(app) as client:
        response = client.get(
            "/customers/cdrs/logs", params={"format": "csv"}, headers={"x-api-key": key}
        )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {
        "error": {
            "status": 503,
            "code": "query_timeout",
            "message": "a consulta excedeu o tempo limite",
            "request_id": response.headers["x-request-id"],
        }
    }
