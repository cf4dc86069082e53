"""Refuses a request whose query string is longer than ``ATENDE_MAX_QUERY_BYTES`` (414).

The longest legitimate query (every filter of a kind, a card token, a cursor) is well under
1 KB; the default 8 KiB is far above it. A longer one is refused from its length alone, in
the project's JSON error shape, before anything parses it, looks up a key or reaches the
database: parsing and access-log masking cost time in proportion to the query's length.

Below this, uvicorn bounds the rest of the request head on its own (docs/api.md, "Limits").
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from atende_logs.http.errors import error_response

QUERY_TOO_LONG = "query_too_long"


class QueryBoundMiddleware:
    """Answers 414 ``query_too_long`` to a query string over ``max_bytes`` bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The raw bytes as they came, still percent-encoded: what the parsers would read.
        if scope["type"] == "http" and len(scope.get("query_string", b"")) > self.max_bytes:
            response = error_response(
                414,
                QUERY_TOO_LONG,
                f"a query string passa do limite de {self.max_bytes} bytes",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
