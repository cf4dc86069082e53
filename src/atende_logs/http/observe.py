"""One timing of each HTTP request, for its access-log line and its metrics.

Both want the same two facts, the status sent and the time from arrival to the last byte,
so one middleware takes them once and hands them to each.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atende_logs.http.access_log import log_request
from atende_logs.http.metrics import observe_request, route_of


class ObserveMiddleware:
    """Logs and counts every HTTP request once it is answered (or has failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when an exception escapes the app

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            seconds = time.perf_counter() - started
            observe_request(route_of(scope), status, seconds)
            log_request(scope, status, seconds)
