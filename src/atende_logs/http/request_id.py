"""One id per request, so a customer quoting an error leads straight to its log lines.

The id is in the ``X-Request-Id`` header of every response, in every JSON error body
(``error.request_id``) and in the request's access log line. An ``X-Request-Id`` the request
brought (from a proxy, or the client's own) is kept when it is well formed, so one request
can be followed across systems; anything else is replaced by a fresh id, so no arbitrary
bytes ever reach a response header or a log line.

``RequestIdMiddleware`` wraps the whole application, Starlette's error middleware included:
the 500 it answers for an unexpected exception carries the id too, and so does every
response of any middleware added later. Code running inside a request reads the id with
``current_request_id()``; ``atende_logs.http.errors.error_body`` already does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-Id"
MAX_LENGTH = 64
EXAMPLE_REQUEST_ID = "0af7651916cd43dd8448eb211c80319c"
"""What the published examples show (a generated id has this form: 32 hex digits)."""

_HEADER_NAME = REQUEST_ID_HEADER.lower().encode()
# Letters, digits and ". _ -": UUIDs, hex, and most tracing ids, but no space, quote,
# control character or byte that a log reader or a header could misread.
_WELL_FORMED = re.compile(rb"[0-9A-Za-z._\-]{1,%d}" % MAX_LENGTH)
_current: ContextVar[str | None] = ContextVar("atende_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served; None outside a request."""
    return _current.get()


def new_request_id() -> str:
    """A fresh id: 128 random bits as 32 hex digits, cheap enough for every request
    (docs/benchmarks-history.md, "Figures from code comments")."""
    return os.urandom(16).hex()


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's own ``X-Request-Id`` when well formed, else a fresh id."""
    for name, value in headers:
        if name == _HEADER_NAME:
            if _WELL_FORMED.fullmatch(value):
                return value.decode("ascii")
            break
    return new_request_id()


class RequestIdMiddleware:
    """Gives each HTTP request its id and adds ``X-Request-Id`` to its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        header = (_HEADER_NAME, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new list: the response's own header list is left as it was.
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = _current.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)
