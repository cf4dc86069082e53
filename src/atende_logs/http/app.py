"""The FastAPI application and its lifespan (the store is opened once, here)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from atende_logs import __version__
from atende_logs.allocator import keep_freed_memory
from atende_logs.config import Settings, get_settings
from atende_logs.http import console, pages
from atende_logs.http.bounds import QueryBoundMiddleware
from atende_logs.http.cache_headers import NoStoreMiddleware
from atende_logs.http.compression import CompressMiddleware
from atende_logs.http.errors import install_error_handlers
from atende_logs.http.key_use import KeyUseMiddleware
from atende_logs.http.maintenance import partition_upkeep
from atende_logs.http.metrics import sampling
from atende_logs.http.observe import ObserveMiddleware
from atende_logs.http.openapi import DESCRIPTION, TITLE, openapi_document
from atende_logs.http.rate_limit_middleware import RateLimitMiddleware
from atende_logs.http.request_id import RequestIdMiddleware
from atende_logs.http.routes import changes, health, ingest, logs, stats
from atende_logs.http.routes.health import Readiness, warn_if_scrapes_refused
from atende_logs.ratelimit import Buckets, open_buckets
from atende_logs.storage import Store, open_store
from atende_logs.storage.durability import warn_unless_durable
from atende_logs.storage.migrate import pending

DEFAULT_DB_THREADS = {"sqlite": 2, "postgresql": 4}
"""Database calls in flight per process (``ATENDE_DB_THREADS`` overrides)."""


class _App(FastAPI):
    trusted_proxies = ""
    """``ATENDE_FORWARDED_ALLOW_IPS``, set by ``create_app``."""
    settings: Settings
    """What the app serves with, set by ``create_app``; the OpenAPI document states it."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = openapi_document(self.routes, self.settings)
        return self.openapi_schema

    def build_middleware_stack(self) -> ASGIApp:
        # The request id goes around everything, Starlette's error middleware included, so
        # that every response has one: the 500 of an unexpected exception, and the answers
        # of any middleware added with add_middleware (they all sit inside). So do the
        # no-store headers. Outermost, the real client's address replaces a trusted proxy's
        # before anything counts it: here rather than in uvicorn, so that the app behaves
        # the same under any ASGI server (``serve`` turns uvicorn's own off).
        app = NoStoreMiddleware(RequestIdMiddleware(super().build_middleware_stack()))
        # uvicorn types ASGI with TypedDicts of its own, Starlette with plain mappings.
        proxied = ProxyHeadersMiddleware(app, trusted_hosts=self.trusted_proxies)  # type: ignore[arg-type]
        return proxied  # type: ignore[return-value]


def create_app(
    settings: Settings | None = None, store: Store | None = None, buckets: Buckets | None = None
) -> FastAPI:
    """The app. Without ``store`` it opens the configured database at start-up; without
    ``buckets``, the rate-limit buckets the settings name (``ratelimit.open_buckets``).

    Start-up fails when the database has migrations pending: run ``atende-logs db upgrade``,
    and warns when PostgreSQL may lose acknowledged commits (``storage.durability``).
    """
    settings = settings or get_settings()
    buckets = open_buckets(settings) if buckets is None else buckets

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keep_freed_memory()  # a page's memory is reused by the next, not faulted in again
        owned = store is None
        if owned:
            waiting = pending(settings.database_url)
            if waiting:
                raise RuntimeError(
                    f"database has pending migrations {waiting}: run `atende-logs db upgrade`"
                )
            warn_unless_durable(settings.database_url)
        app.state.store = open_store(settings) if store is None else store
        # Every blocking call (database work) runs on anyio's default thread pool; bounding it
        # keeps a burst of clients from piling up threads that only contend for the GIL.
        threads = settings.db_threads or DEFAULT_DB_THREADS[app.state.store.backend]
        to_thread.current_default_thread_limiter().total_tokens = threads
        app.state.settings = settings
        app.state.readiness = Readiness(app.state.store, settings)
        warn_if_scrapes_refused(settings)
        upkeep = partition_upkeep(app.state.store) if owned else contextlib.nullcontext()
        try:
            async with sampling(app.state.store), upkeep:  # /metrics' gauges; partitions
                yield
        finally:
            await buckets.aclose()
            if owned:
                app.state.store.close()

    # FastAPI's /docs and /redoc load their assets from CDNs: ours are served from here.
    app = _App(
        title=TITLE,
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.trusted_proxies = settings.forwarded_allow_ips
    app.settings = settings
    install_error_handlers(app)
    # Innermost, beside the router: it compresses the answers of the routes that say so
    # (their ``compressible``), which it can tell only once the router has matched one.
    app.add_middleware(CompressMiddleware)
    if settings.rate_limit_enabled:  # inside the access log, which records its 429s too
        app.add_middleware(RateLimitMiddleware, settings=settings, buckets=buckets)
    # Before the rate limit: an over-long query costs nothing, not even a bucket's look-up.
    app.add_middleware(QueryBoundMiddleware, max_bytes=settings.max_query_bytes)
    app.add_middleware(ObserveMiddleware)  # logs, times and counts the others' answers
    # Outermost: it writes key uses after the response, outside the times measured above.
    app.add_middleware(KeyUseMiddleware)
    app.include_router(logs.router)
    app.include_router(changes.router)
    app.include_router(stats.router)
    app.include_router(ingest.router)
    app.include_router(health.router)
    app.include_router(pages.docs_router(TITLE, app.openapi_url or "/openapi.json"))
    app.include_router(console.console_router(settings.timezone))
    app.router.routes.append(pages.static_files())
    return app
