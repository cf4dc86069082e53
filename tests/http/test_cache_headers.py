"""Every response says ``Cache-Control: no-store`` and ``X-Content-Type-Options: nosniff``
(issue 21, 2.7): keys travel in ``x-api-key``, which shared caches do not treat as private,
so no answer may be stored on the way, whoever produced it: a route, an error handler,
the rate limiter, the query bound, Starlette's last-resort 500, a streamed export."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from _limits import DEFAULT_LIMITS
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.models import Customer
from atende_logs.storage import Store

SEARCH = "/customers/cdrs/logs"


@pytest.fixture(scope="module")
def answers(app_settings: Settings, store: Store) -> Iterator[dict[str, httpx.Response]]:
    """One response of each kind, from one app with a quota of 3 per key."""
    customer: Customer = store.create_customer(f"ch {uuid.uuid4().hex[:8]}")
    key = store.create_api_key(customer.id)[1]
    _, ingest_key = store.create_ingest_key(f"ch {uuid.uuid4().hex[:8]}")
    settings = Settings(
        database_url=app_settings.database_url,
        **{**DEFAULT_LIMITS, "rate_limit_quota": 3, "rate_limit_window_s": 3600},
    )
    app = create_app(settings, store=store)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom-for-headers", boom)
    auth = {"x-api-key": key}
    body = orjson.dumps({"callid": "ch-1", "ori_start_time": "2024-03-04T10:00:00-03:00"})
    with TestClient(app, raise_server_exceptions=False) as client:
        yield {
            "page": client.get(SEARCH, headers=auth),
            "export": client.get(SEARCH, params={"format": "csv"}, headers=auth),
            "bad parameter": client.get(SEARCH, params={"size": "0"}, headers=auth),
            "rate limited": client.get(SEARCH, headers=auth),
            "no key": client.get("/customers/attendants/logs"),
            "ingest": client.post(
                f"/ingest/customers/{customer.id}/cdrs",
                content=body,
                headers={"x-ingest-key": ingest_key, "content-type": "application/x-ndjson"},
            ),
            "method not allowed": client.delete(SEARCH),
            "no such route": client.get("/nothing/here"),
            "query too long": client.get(SEARCH + "?a=" + "x" * 10_000),
            "healthz": client.get("/healthz"),
            "readyz": client.get("/readyz"),
            "metrics": client.get("/metrics"),  # 403 without a token on this app
            "openapi": client.get("/openapi.json"),
            "docs": client.get("/docs"),
            "unexpected": client.get("/boom-for-headers"),
        }


def test_each_kind_of_answer_was_produced(answers: dict[str, httpx.Response]) -> None:
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "page": 200,
        "export": 200,
        "bad parameter": 400,
        "rate limited": 429,
        "no key": 401,
        "ingest": 200,
        "method not allowed": 405,
        "no such route": 404,
        "query too long": 414,
        "healthz": 200,
        "readyz": 200,
        "metrics": 403,
        "openapi": 200,
        "docs": 200,
        "unexpected": 500,
    }


@pytest.mark.parametrize(
    "name",
    [
        "page",
        "export",
        "bad parameter",
        "rate limited",
        "no key",
        "ingest",
        "method not allowed",
        "no such route",
        "query too long",
        "healthz",
        "readyz",
        "metrics",
        "openapi",
        "docs",
        "unexpected",
    ],
)
def test_no_answer_may_be_stored_or_sniffed(answers: dict[str, httpx.Response], name: str) -> None:
    headers = answers[name].headers
    assert headers.get_list("cache-control") == ["no-store"]
    assert headers.get_list("x-content-type-options") == ["nosniff"]
