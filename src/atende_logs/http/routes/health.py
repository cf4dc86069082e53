"""Endpoints for load balancers and monitoring: liveness, readiness and Prometheus metrics.

None needs a customer key. ``/readyz`` is polled every second or so by each load balancer,
so its answer is cached for a second (the database is asked at most once a second per
process) and it never waits longer than the statement timeout.
"""

from __future__ import annotations

import hmac
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import anyio
from anyio import to_thread
from fastapi import APIRouter, Depends, Request, Security
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from atende_logs.config import Settings
from atende_logs.errors import AuthenticationError, StorageError
from atende_logs.http.deps import SettingsDep
from atende_logs.http.errors import error_body, error_response
from atende_logs.http.metrics import CONTENT_TYPE, exposition
from atende_logs.http.request_id import EXAMPLE_REQUEST_ID
from atende_logs.http.responses import JSONResponse
from atende_logs.storage import Store, migrate

router = APIRouter(tags=["Operação"])

DATABASE_TTL_S = 1.0
MIGRATIONS_TTL_S = 30.0
"""Migrations change only when someone runs ``atende-logs db``, and checking them opens a
connection of its own (about 20 ms on PostgreSQL): twice a minute is enough."""


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


class CachedCheck:
    """A blocking check run on a worker thread of its own: at most once per ``ttl_s`` however
    often it is asked, given up after ``timeout_s``, and never twice at once."""

    def __init__(self, check: Callable[[], Problem | None], ttl_s: float, timeout_s: float) -> None:
        self._check = check
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._answer: Problem | None = None
        self._expires = -math.inf
        self._asking = anyio.Lock()  # callers arriving during a check wait for its answer
        self._limiter = anyio.CapacityLimiter(1)  # not the request threads' limiter
        self._running = threading.Lock()

    async def __call__(self) -> Problem | None:
        async with self._asking:
            if anyio.current_time() >= self._expires:
                self._answer = await self._within_timeout()
                self._expires = anyio.current_time() + self._ttl_s
        return self._answer

    async def _within_timeout(self) -> Problem | None:
        with anyio.move_on_after(self._timeout_s):
            return await to_thread.run_sync(
                self._run_alone, abandon_on_cancel=True, limiter=self._limiter
            )
        return TOO_SLOW

    def _run_alone(self) -> Problem | None:
        # A check given up at its deadline may still be waiting on the database: until it
        # returns, the next ones answer as it did instead of piling up threads behind it.
        if not self._running.acquire(blocking=False):
            return TOO_SLOW
        try:
            return self._check()
        finally:
            self._running.release()


def _database_problem(store: Store) -> Problem | None:
    try:
        store.get_customer(0)  # a primary-key lookup that finds nothing: the cheapest query
    except StorageError:
        return UNREACHABLE
    return None


def _migrations_problem(database_url: str) -> Problem | None:
    try:
        waiting = migrate.pending(database_url)
    except SQLAlchemyError:  # migrate hands the driver's errors through untranslated
        return UNREACHABLE
    return PENDING if waiting else None


class Readiness:
    """Whether this process should get traffic: the database answers and its schema is the
    one this code expects (the same check start-up makes)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        timeout_s = settings.statement_timeout_ms / 1000
        self._database = CachedCheck(partial(_database_problem, store), DATABASE_TTL_S, timeout_s)
        self._migrations = CachedCheck(
            partial(_migrations_problem, settings.database_url), MIGRATIONS_TTL_S, timeout_s
        )

    async def problem(self) -> Problem | None:
        """What is wrong, or None when ready."""
        return await self._database() or await self._migrations()


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
        200: _json("O banco responde e não há migração pendente.", {"status": "ok"}),
        503: {
            **_json(
                "Banco inacessível (`database_unavailable`) ou migrações pendentes "
                "(`migrations_pending`).",
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
    """Readiness: 200 when the database answers a trivial query and no migration is
    pending, else 503 naming what is wrong. Each process asks the database at most once a
    second (migrations twice a minute) however often it is polled, and answers within
    `ATENDE_STATEMENT_TIMEOUT_MS`. No key needed."""
    readiness: Readiness = request.app.state.readiness
    problem = await readiness.problem()
    if problem is not None:
        return error_response(503, problem.code, problem.message)
    return JSONResponse({"status": "ok"})


_BAD_TOKEN = "token de métricas ausente ou inválido"
# Reading every worker's files takes milliseconds (3 ms for 80 series in one file): off the
# event loop, one scrape at a time, and never on a thread that database work waits for.
_SCRAPES = anyio.CapacityLimiter(1)
_metrics_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="MetricsToken",
    description="`Authorization: Bearer <ATENDE_METRICS_TOKEN>`; only when that is set.",
)


async def _authorize_scrape(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_metrics_bearer)],
) -> None:
    if settings.metrics_token is None:
        return
    given = credentials.credentials.encode() if credentials else b""
    if not hmac.compare_digest(given, settings.metrics_token.get_secret_value().encode()):
        raise AuthenticationError(_BAD_TOKEN)


@router.get(
    "/metrics",
    summary="Métricas Prometheus",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}}},
        401: _json(
            "Token ausente ou errado (só quando `ATENDE_METRICS_TOKEN` está definido).",
            error_body(401, "unauthorized", _BAD_TOKEN, None, EXAMPLE_REQUEST_ID),
        ),
    },
)
async def metrics_text(_: Annotated[None, Depends(_authorize_scrape)]) -> Response:
    """Prometheus text format, summed over every process of the server: requests by route
    template and status, request latency by route, ingested records by kind and outcome,
    rate-limit refusals, database threads and PostgreSQL connections in use. Reveals
    volumes, never customer data; set `ATENDE_METRICS_TOKEN` to require a bearer token."""
    body = await to_thread.run_sync(exposition, limiter=_SCRAPES)
    return Response(body, media_type=CONTENT_TYPE)
