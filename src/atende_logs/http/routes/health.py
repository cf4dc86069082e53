"""Endpoints for load balancers and monitoring: liveness, readiness and Prometheus metrics.

None needs a customer key; ``/metrics`` needs its own token unless the server listens on
loopback alone (``http.auth.METRICS_TOKEN``). ``/readyz`` is polled every second or so by
each load balancer, so its answer is cached for a second (the database is asked at most once
a second per process) and it never waits longer than the statement timeout.

Readiness and rolling deploys: a newer release runs ``atende-logs db upgrade`` before its
processes replace the old ones, which keep serving meanwhile. So a database at a revision
this code does not know is newer, not broken, and the process stays ready; only a database
behind this code's head takes it out of service. That is safe because migrations are
additive (docs/cli.md): the old code finds every table and column it uses.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Literal, TypeVar

import anyio
from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from starlette.responses import Response

from atende_logs.config import Settings
from atende_logs.errors import StorageError
from atende_logs.http.auth import (
    BAD_SCRAPE_TOKEN,
    METRICS_TOKEN,
    NO_SCRAPE_TOKEN,
    listens_on_loopback,
)
from atende_logs.http.errors import error_body, error_response
from atende_logs.http.metrics import CONTENT_TYPE, exposition
from atende_logs.http.request_id import EXAMPLE_REQUEST_ID
from atende_logs.http.responses import JSONResponse
from atende_logs.storage import Store, migrate

router = APIRouter(tags=["Operação"])
logger = logging.getLogger("atende_logs.http")

DATABASE_TTL_S = 1.0
"""How long an answer of the database (its schema revision: one row) is reused."""


@dataclass(frozen=True)
class Problem:
    """Why the server is not ready: a stable code and a message for people."""

    code: str
    message: str


UNREACHABLE = Problem("database_unavailable", "o banco de dados não responde")
TOO_SLOW = Problem("database_unavailable", "o banco de dados não respondeu dentro do tempo limite")
PENDING = Problem(
    "migrations_pending",
    "o banco de dados tem migrações pendentes: rode `atende-logs db upgrade`",
)


@dataclass(frozen=True)
class Ready:
    """The process may get traffic. ``migrations`` is "current" when the database is at this
    code's head, "ahead" when a newer release migrated it (a rolling deploy under way)."""

    migrations: Literal["current", "ahead"]


Answer = TypeVar("Answer")


class CachedCheck(Generic[Answer]):
    """A blocking check run on a worker thread of its own: at most once per ``ttl_s`` however
    often it is asked, given up after ``timeout_s`` (answering ``TOO_SLOW``), and never twice
    at once."""

    def __init__(self, check: Callable[[], Answer], ttl_s: float, timeout_s: float) -> None:
        self._check = check
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._answer: Answer | Problem = TOO_SLOW  # never seen: the first call checks
        self._expires = -math.inf
        self._asking = anyio.Lock()  # callers arriving during a check wait for its answer
        self._limiter = anyio.CapacityLimiter(1)  # not the request threads' limiter
        self._running = threading.Lock()

    async def __call__(self) -> Answer | Problem:
        async with self._asking:
            if anyio.current_time() >= self._expires:
                self._answer = await self._within_timeout()
                self._expires = anyio.current_time() + self._ttl_s
        return self._answer

    async def _within_timeout(self) -> Answer | Problem:
        with anyio.move_on_after(self._timeout_s):
            return await to_thread.run_sync(
                self._run_alone, abandon_on_cancel=True, limiter=self._limiter
            )
        return TOO_SLOW

    def _run_alone(self) -> Answer | Problem:
        # A check given up at its deadline may still be waiting on the database: until it
        # returns, the next ones answer as it did instead of piling up threads behind it.
        if not self._running.acquire(blocking=False):
            return TOO_SLOW
        try:
            return self._check()
        finally:
            self._running.release()


def schema_state(revision: str | None) -> Ready | Problem:
    """Whether a database at ``revision`` (None: unmigrated) can serve this release."""
    if migrate.pending_after(revision):
        return PENDING  # behind: this code would miss tables or columns
    return Ready("ahead" if migrate.is_ahead(revision) else "current")


def _schema_check(store: Store) -> Ready | Problem:
    try:
        revision = store.schema_revision()  # one row: the cheapest query there is
    except StorageError:
        return UNREACHABLE
    return schema_state(revision)


class Readiness:
    """Whether this process should get traffic: the database answers, and its schema is this
    code's or a newer release's (see the module's docstring)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        timeout_s = settings.statement_timeout_ms / 1000
        check = partial(_schema_check, store)
        self._check = CachedCheck(check, DATABASE_TTL_S, timeout_s)

    async def state(self) -> Ready | Problem:
        """Ready, or what is wrong."""
        return await self._check()


def _json(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"example": example}}}


@router.get(
    "/healthz",
    summary="Processo vivo",
    responses={200: _json("O processo responde.", {"status": "ok"})},
)
async def healthz() -> JSONResponse:
    """Liveness: 200 while the process serves requests. Touches no database, so a database
    outage never gets healthy processes restarted. No key needed."""
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="Pronto para receber tráfego",
    responses={
        200: _json(
            "O banco responde e seu esquema é o desta versão (`migrations`: `current`) ou o "
            "de uma versão mais nova, já migrado durante uma implantação gradual (`ahead`). "
            "Seguro porque as migrações só acrescentam: a versão anterior continua servindo "
            "sobre o esquema novo.",
            {"status": "ok", "migrations": "current"},
        ),
        503: {
            **_json(
                "Banco inacessível (`database_unavailable`) ou atrás desta versão, sem "
                "nenhuma migração ou numa anterior (`migrations_pending`).",
                error_body(503, UNREACHABLE.code, UNREACHABLE.message, None, EXAMPLE_REQUEST_ID),
            ),
            "headers": {
                "Retry-After": {
                    "description": "Segundos a esperar antes de perguntar de novo.",
                    "schema": {"type": "integer"},
                }
            },
        },
    },
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 when the database answers and its schema revision is this release's
    head (`"migrations": "current"`) or one this release does not know, written by a newer
    release that migrated first (`"migrations": "ahead"`): during a rolling deploy the old
    processes keep serving. That is safe only because every migration is additive (adds
    tables, columns, indexes; never drops or renames what an older release reads). A
    database behind this release, unmigrated or at an older revision, answers 503
    `migrations_pending`; one that does not answer, 503 `database_unavailable`. Each process
    asks the database at most once a second however often it is polled, and answers within
    `ATENDE_STATEMENT_TIMEOUT_MS`. No key needed."""
    readiness: Readiness = request.app.state.readiness
    state = await readiness.state()
    if isinstance(state, Problem):
        return error_response(503, state.code, state.message)
    return JSONResponse({"status": "ok", "migrations": state.migrations})


# Reading every worker's files takes milliseconds (docs/benchmarks-history.md, "Figures from
# code comments"): off the event loop, one scrape at a time, and never on a thread that
# database work waits for.
_SCRAPES = anyio.CapacityLimiter(1)


def warn_if_scrapes_refused(settings: Settings) -> None:
    """Say at start-up why /metrics will answer 403, before Prometheus finds out (when the
    server said where it listens: otherwise the 403's own message says it)."""
    if settings.metrics_token is None and settings.listen_host is not None:
        if not listens_on_loopback(settings):
            logger.warning(
                "ATENDE_METRICS_TOKEN is unset and the server listens on %s, not on loopback "
                "alone: /metrics answers 403 until a token is set",
                settings.listen_host,
            )


@router.get(
    "/metrics",
    dependencies=[Depends(METRICS_TOKEN)],
    summary="Métricas Prometheus",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}},
        401: _json(
            "Token ausente ou errado (quando `ATENDE_METRICS_TOKEN` está definido). Cada "
            "token errado gasta uma das falhas de autenticação do endereço, como uma chave.",
            error_body(401, "unauthorized", BAD_SCRAPE_TOKEN, None, EXAMPLE_REQUEST_ID),
        ),
        403: _json(
            "`ATENDE_METRICS_TOKEN` não está definido e o servidor pode ser alcançado de "
            "fora (não escuta só em loopback, ou o pedido veio por um proxy).",
            error_body(403, "metrics_token_unset", NO_SCRAPE_TOKEN, None, EXAMPLE_REQUEST_ID),
        ),
        429: _json(
            "Falhas de autenticação demais a partir deste endereço (chaves ou tokens de "
            "métricas errados); `Retry-After` diz quando tentar de novo.",
            error_body(
                429,
                "auth_failures_limited",
                "autenticações recusadas demais a partir deste endereço; tente em 3 s",
                None,
                EXAMPLE_REQUEST_ID,
            ),
        ),
    },
)
async def metrics_text() -> Response:
    """Prometheus text format, summed over every process of the server: requests by route
    template and status, request latency by route, ingested records by kind and outcome,
    rate-limit refusals, database threads and PostgreSQL connections in use. Reveals
    volumes, never customer data. Requires `Authorization: Bearer <ATENDE_METRICS_TOKEN>`;
    without that setting, it answers only on a server listening on loopback alone, to
    requests no proxy forwarded, and 403 elsewhere."""
    body = await to_thread.run_sync(exposition, limiter=_SCRAPES)
    return Response(body, media_type=CONTENT_TYPE)
