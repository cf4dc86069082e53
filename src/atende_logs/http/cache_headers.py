"""Two headers on every response: ``Cache-Control: no-store`` and
``X-Content-Type-Options: nosniff``.

Customers authenticate with ``x-api-key``, a header shared caches know nothing about (they
treat ``Authorization`` as private, not it), so a cache between a customer and the server
could keep one customer's page and hand it to the next asker of the same URL. Every answer
depends on who asks or on the moment (health, metrics), so none may be stored. ``nosniff``
keeps a browser from reading a JSON, NDJSON or CSV body as anything but its declared type.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))


class NoStoreMiddleware:
    """Adds ``HEADERS`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new list: the response's own is left alone. No response of the app sets
                # either header itself (a test holds each answer to one of each).
                message["headers"] = [*message.get("headers", ()), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
