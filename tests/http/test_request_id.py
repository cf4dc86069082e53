"""Every response carries a request id, the same in its X-Request-Id header, in its JSON
error body (``error.request_id``) and in its access log line (issue 5).

The requests go through the real app over the session's real store, on both databases;
_error_paths.py provokes every error status the app gives.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import anyio
import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from _error_paths import ATT, ERROR_CASES, Caller, ErrorCase, fault_client, new_caller, send
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.errors import error_response
from atende_logs.http.request_id import (
    EXAMPLE_REQUEST_ID,
    MAX_LENGTH,
    RequestIdMiddleware,
    current_request_id,
    request_id_from,
)
from atende_logs.storage import Store

GENERATED = re.compile(r"[0-9a-f]{32}")
SAFE = re.compile(r"[0-9A-Za-z._\-]{1,64}")


@pytest.fixture(scope="module")
def faulty(app_settings: Settings, store: Store) -> Iterator[TestClient]:
    yield from fault_client(app_settings, store)


@pytest.fixture(scope="module")
def caller(store: Store) -> Caller:
    return new_caller(store)


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        orjson.loads(record.getMessage())
        for record in caplog.records
        if record.name == "atende_logs.access"
    ]


def the_request_id(response: Any) -> str:
    """The response's one X-Request-Id header."""
    (request_id,) = response.headers.get_list("x-request-id")
    assert isinstance(request_id, str)
    return request_id


@pytest.mark.parametrize("case", ERROR_CASES)
def test_every_error_carries_its_request_id_in_header_body_and_log(
    faulty: TestClient, caller: Caller, caplog: pytest.LogCaptureFixture, case: ErrorCase
) -> None:
    with caplog.at_level(logging.INFO, logger="atende_logs.access"):
        response = send(faulty, case, caller)
    assert response.status_code == case.status, response.text
    request_id = the_request_id(response)
    assert GENERATED.fullmatch(request_id)
    error = response.json()["error"]
    assert (error["status"], error["request_id"]) == (case.status, request_id)
    (line,) = access_lines(caplog)
    assert (line["status"], line["request_id"]) == (case.status, request_id)


def test_every_success_carries_a_request_id_of_its_own(
    client: TestClient, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="atende_logs.access"):
        answers = [client.get(ATT, headers={"x-api-key": api_key}) for _ in range(3)]
    ids = [the_request_id(answer) for answer in answers]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert all(GENERATED.fullmatch(request_id) for request_id in ids)
    assert len(set(ids)) == 3
    assert [line["request_id"] for line in access_lines(caplog)] == ids


@pytest.mark.parametrize(
    "incoming", ["0af7651916cd43dd8448eb211c80319c", "lb-7f3a.2026_11_27-01", "x", "a" * 64]
)
def test_a_well_formed_incoming_request_id_is_kept(
    faulty: TestClient, caplog: pytest.LogCaptureFixture, incoming: str
) -> None:
    """A proxy's or client's own id follows the request into our answer and log."""
    with caplog.at_level(logging.INFO, logger="atende_logs.access"):
        response = faulty.get(ATT, headers={"x-request-id": incoming})
    assert response.status_code == 401
    assert the_request_id(response) == response.json()["error"]["request_id"] == incoming
    assert [line["request_id"] for line in access_lines(caplog)] == [incoming]


@pytest.mark.parametrize(
    "incoming",
    [
        "a" * (MAX_LENGTH + 1),
        "",
        "two words",
        'quote"d',
        "<script>alert(1)</script>",
        "{}\\n",
        "id;drop",
        "ação".encode().decode("latin-1"),
    ],
)
def test_a_malformed_incoming_request_id_is_replaced(
    faulty: TestClient, caplog: pytest.LogCaptureFixture, incoming: str
) -> None:
    with caplog.at_level(logging.INFO, logger="atende_logs.access"):
        response = faulty.get(ATT, headers={"x-request-id": incoming.encode("latin-1")})
    request_id = the_request_id(response)
    assert GENERATED.fullmatch(request_id)
    assert response.json()["error"]["request_id"] == request_id
    (line,) = access_lines(caplog)
    assert line["request_id"] == request_id
    if incoming:
        assert incoming not in orjson.dumps(line).decode()


@given(st.binary(max_size=80) | st.text("0123456789abcdefXYZ._-:/ ", max_size=70).map(str.encode))
@example(b"a" * MAX_LENGTH)
@example(b"a" * (MAX_LENGTH + 1))
@example(b"ok\r\nSet-Cookie: x=1")
def test_an_incoming_id_is_kept_only_when_well_formed(incoming: bytes) -> None:
    kept = request_id_from([(b"accept", b"*/*"), (b"x-request-id", incoming)])
    if SAFE.fullmatch(incoming.decode("latin-1")):
        assert kept == incoming.decode()
    else:
        assert GENERATED.fullmatch(kept)


def test_without_an_incoming_id_each_request_gets_a_fresh_one() -> None:
    ids = {request_id_from([(b"accept", b"*/*")]) for _ in range(1000)}
    assert len(ids) == 1000 and all(GENERATED.fullmatch(request_id) for request_id in ids)


def test_an_unexpected_exception_is_logged_with_the_id_the_client_got(
    faulty: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The client quotes the id of its 500; the operator finds the traceback by it."""
    with caplog.at_level(logging.INFO):
        response = faulty.get("/faults/unexpected")
    request_id = the_request_id(response)
    assert response.json() == {
        "error": {
            "status": 500,
            "code": "internal_error",
            "message": "erro interno",
            "request_id": request_id,
        }
    }
    (logged,) = [r for r in caplog.records if r.name == "atende_logs.http"]
    assert logged.levelno == logging.ERROR
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], RuntimeError)
    assert request_id in logged.getMessage()
    assert [line["request_id"] for line in access_lines(caplog)] == [request_id]


class _Refusing:
    """A middleware that answers on its own, as the rate limiter's 429 will."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/refused":
            response = error_response(429, "rate_limited", "muitas requisições; tente depois")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def test_a_middleware_added_later_answers_with_the_request_id(
    app_settings: Settings, store: Store
) -> None:
    """add_middleware puts a middleware inside the request id: its answers carry the id
    when built with error_response, without passing it."""
    app = create_app(app_settings, store=store)
    app.add_middleware(_Refusing)
    with TestClient(app) as client:
        response = client.get("/refused")
    request_id = the_request_id(response)
    assert GENERATED.fullmatch(request_id)
    assert (response.status_code, response.json()["error"]["request_id"]) == (429, request_id)


def test_the_id_is_current_only_while_its_request_is_served() -> None:
    seen: list[str | None] = []
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(current_request_id())
        await send({"type": "http.response.start", "status": 204, "headers": [(b"a", b"b")]})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def record(message: Message) -> None:
        sent.append(message)

    async def serve() -> str | None:
        await RequestIdMiddleware(app)({"type": "http", "headers": []}, receive, record)
        return current_request_id()

    assert anyio.run(serve) is None
    (request_id,) = seen
    assert request_id is not None and GENERATED.fullmatch(request_id)
    assert sent[0]["headers"] == [(b"a", b"b"), (b"x-request-id", request_id.encode())]


def test_the_published_error_examples_carry_a_request_id(client: TestClient) -> None:
    operations = [
        path["get"]
        for name, path in client.get("/openapi.json").json()["paths"].items()
        if name.startswith("/customers/")
    ]
    assert len(operations) == 9  # the three searches, their change feeds and stats
    for operation in operations:
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert errors
        for answer in errors.values():
            example_error = answer["content"]["application/json"]["example"]["error"]
            assert example_error["request_id"] == EXAMPLE_REQUEST_ID
            assert "X-Request-Id" in answer["headers"]
