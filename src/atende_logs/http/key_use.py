"""Writes the key uses a request's authentication noted, after its response has gone out.

The store notes a key's use in memory while authenticating (at most once a minute per key
per process, ``storage._key_use``); this middleware writes what is due once the response
is complete, as Starlette's background tasks do, so no request waits for that write. It
costs a request a check of one dict when nothing is due, which is almost always.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from atende_logs.errors import StorageError
from atende_logs.storage.base import Store

logger = logging.getLogger("atende_logs.http")


class KeyUseMiddleware:
    """After each HTTP response, records the key uses its request noted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] != "http":
            return
        store: Store | None = getattr(scope["app"].state, "store", None)
        if store is None or not store.key_use_pending():
            return
        try:
            await run_in_threadpool(store.record_key_use)
        except StorageError as exc:  # a last use is worth a log line, never a failed request
            logger.warning("could not record key use: %s", exc.message)
