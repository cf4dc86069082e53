"""Every way a request can fail, for the request-id and error-hygiene suites.

``ERROR_CASES`` provokes each error path of the real app over the session's real store: bad
parameters of every kind, bad keys, unknown routes and dialers, wrong methods, oversized
and unreadable bodies, path validation. ``fault_app`` adds what a test cannot provoke from
outside: routes that raise what a failing database raises, and one that raises an
unexpected exception whose message is full of what must never reach a client.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from atende_logs import normalize
from atende_logs.config import Settings
from atende_logs.errors import QueryTimeoutError, StorageError, StoreUnavailableError
from atende_logs.http import create_app
from atende_logs.kinds import KINDS
from atende_logs.storage import Store

ATT = "/customers/attendants/logs"
CDR = "/customers/cdrs/logs"
CARDS = "/customers/dialer-queue/cards"
API_KEY, INGEST_KEY, TOKEN, CUSTOMER = "<api key>", "<ingest key>", "<token>", "<customer>"
MAX_BYTES, MAX_RECORDS = 1024, 2
# What a database driver's or Python's own error says: none of it may reach a client.
LEAKY_MESSAGE = (
    'SELECT doc FROM cdrs WHERE customer_id = 1 -- File "/work/main/src/atende_logs/'
    'storage/sqlite.py", line 99, in _reading: psycopg.errors.UndefinedTable'
)


@dataclass(frozen=True)
class ErrorCase:
    """One failing request; placeholders (``API_KEY``…) are filled in by ``send``."""

    status: int
    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=lambda: {"x-api-key": API_KEY})
    body: bytes | None = None

    def param(self, label: str) -> object:
        return pytest.param(self, id=f"{self.status}-{label}")


@dataclass(frozen=True)
class Caller:
    """A customer with a key and a dialer, and an ingest key."""

    customer_id: int
    api_key: str
    token: str
    ingest_key: str


def new_caller(store: Store) -> Caller:
    customer = store.create_customer(f"errors {uuid.uuid4().hex[:8]}")
    return Caller(
        customer.id,
        store.create_api_key(customer.id)[1],
        store.create_dialer(customer.id, "discador")[1],
        store.create_ingest_key(f"errors {uuid.uuid4().hex[:8]}")[1],
    )


def send(client: TestClient, case: ErrorCase, caller: Caller) -> httpx.Response:
    fill = {
        API_KEY: caller.api_key,
        INGEST_KEY: caller.ingest_key,
        TOKEN: caller.token,
        CUSTOMER: str(caller.customer_id),
    }
    return client.request(
        case.method,
        case.path.replace(CUSTOMER, fill[CUSTOMER]),
        params=[(name, fill.get(value, value)) for name, value in case.params],
        headers={name: fill.get(value, value) for name, value in case.headers.items()},
        content=case.body,
    )


def _bad_value(path: str, name: str, value: str, *extra: tuple[str, str]) -> object:
    params = [(name, value), *extra] + ([("token", TOKEN)] if path == CARDS else [])
    return ErrorCase(400, "GET", path, params).param(f"{path.split('/')[2]}-{name}={value!r}")


# A value each typed filter refuses: every comparison kind that parses numbers or versions.
_TYPED = {
    normalize.phone: "sem dígitos",
    normalize.integer: "1.5",
    normalize.number: "1e999",
    normalize.decimal_key: "NaN",
    normalize.version_key: "1..2",
}
_FILTER_CASES = [
    _bad_value(kind.path, spec.param, _TYPED[spec.key])
    for kind in KINDS.values()
    for spec in kind.filters
    if spec.key in _TYPED
]
_INGEST = f"/ingest/customers/{CUSTOMER}/cdrs"
_INGESTING = {"x-ingest-key": INGEST_KEY, "content-type": "application/x-ndjson"}

ERROR_CASES = [
    ErrorCase(400, "GET", ATT, [("attendant_emial", "a@b.c")]).param("unknown-parameter"),
    ErrorCase(400, "GET", CDR, [("size", "5"), ("size", "5")]).param("duplicate-parameter"),
    ErrorCase(400, "GET", CARDS, [("status", "x")]).param("missing-token"),
    _bad_value(ATT, "start_at", "2020-13-45"),
    _bad_value(ATT, "end_at", "ontem"),
    _bad_value(CDR, "start_at", "2020-01-02", ("end_at", "2020-01-01")),
    _bad_value(CDR, "after", "t.garbage"),
    _bad_value(CDR, "after", "99999999999999999999"),
    _bad_value(CDR, "after", "id:no-such-item"),
    _bad_value(CDR, "after", "card:5511999999999@2020-01-01"),
    _bad_value(CARDS, "after", "card:5511999999999@ontem"),
    _bad_value(ATT, "size", "1001"),
    _bad_value(ATT, "tz", "Mars/Olympus"),
    _bad_value(ATT, "format", "xml"),
    _bad_value(ATT, "delimiter", "|", ("format", "csv")),
    _bad_value(ATT, "bom", "true"),
    _bad_value(ATT, "description", "a\x00b"),
    *_FILTER_CASES,
    ErrorCase(400, "POST", "/ingest/customers/abc/cdrs", headers=_INGESTING, body=b"{}").param(
        "path-validation"
    ),
    ErrorCase(400, "POST", _INGEST, headers=_INGESTING, body=b"").param("empty-body"),
    ErrorCase(401, "GET", ATT, headers={}).param("search-without-key"),
    ErrorCase(401, "GET", CDR, headers={"x-api-key": "atl_live_forged"}).param("search-bad-key"),
    ErrorCase(401, "POST", _INGEST, headers={"x-ingest-key": API_KEY}, body=b"").param(
        "ingest-with-a-customer-key"
    ),
    ErrorCase(404, "GET", "/customers/nada").param("unknown-route"),
    ErrorCase(404, "GET", CARDS, [("token", "atl_dlr_unknown")]).param("unknown-dialer"),
    ErrorCase(
        404, "POST", "/ingest/customers/999999999/cdrs", headers=_INGESTING, body=b"\n"
    ).param("unknown-customer"),
    ErrorCase(405, "POST", ATT).param("post-on-search"),
    ErrorCase(405, "DELETE", CARDS, [("token", TOKEN)]).param("delete-on-search"),
    ErrorCase(405, "GET", _INGEST, headers={"x-ingest-key": INGEST_KEY}).param("get-on-ingest"),
    ErrorCase(413, "POST", _INGEST, headers=_INGESTING, body=b" " * (MAX_BYTES + 1)).param(
        "body-over-limit"
    ),
    ErrorCase(413, "POST", _INGEST, headers=_INGESTING, body=b"{}\n" * (MAX_RECORDS + 1)).param(
        "records-over-limit"
    ),
    ErrorCase(
        415, "POST", _INGEST, headers={**_INGESTING, "content-type": "text/plain"}, body=b"{}"
    ).param("unreadable-body"),
    ErrorCase(500, "GET", "/faults/unexpected").param("unexpected-exception"),
    ErrorCase(500, "GET", "/faults/storage").param("storage-error"),
    ErrorCase(503, "GET", "/faults/timeout").param("query-timeout"),
    ErrorCase(503, "GET", "/faults/unavailable").param("database-unavailable"),
]


def add_fault_routes(app: FastAPI) -> None:
    """Routes that fail the way a broken database or a bug does, behind every middleware."""

    def raising(exc: Exception) -> Callable[[], Awaitable[None]]:
        async def route() -> None:
            raise exc

        return route

    for name, exc in [
        ("unexpected", RuntimeError(LEAKY_MESSAGE)),
        ("storage", StorageError(LEAKY_MESSAGE)),
        ("timeout", QueryTimeoutError("a consulta excedeu o tempo limite")),
        ("unavailable", StoreUnavailableError("o banco de dados está indisponível")),
    ]:
        app.add_api_route(f"/faults/{name}", raising(exc), methods=["GET"])


def fault_app(settings: Settings, store: Store) -> FastAPI:
    """The real app over ``store``, with small ingest limits and the fault routes."""
    limited = settings.model_copy(
        update={"ingest_max_bytes": MAX_BYTES, "ingest_max_records": MAX_RECORDS}
    )
    app = create_app(limited, store=store)
    add_fault_routes(app)
    return app


def fault_client(settings: Settings, store: Store) -> Iterator[TestClient]:
    """A client of ``fault_app`` that answers a server error instead of raising it."""
    with TestClient(fault_app(settings, store), raise_server_exceptions=False) as client:
        yield client
