"""Who may make how many requests: per-key token buckets, a per-key concurrency cap, a
per-address quota of failed authentications, and turns per key at the database threads.

Middleware before routing and any database work, so a flood is turned away at the cost of a
hash and a bucket update. Keys are recognised by form and checksum and bucketed by SHA-256
digest (never held); the client address is ``scope["client"]``, already the one a trusted
proxy forwarded (``http.app``). What each limit does and why: docs/api.md#rate-limits.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import anyio
from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atende_logs import credentials
from atende_logs.config import Settings
from atende_logs.credentials import CUSTOMER_KEY, INGEST_KEY, SecretType
from atende_logs.http import auth
from atende_logs.http.errors import error_body, error_response
from atende_logs.http.metrics import count_rate_limited
from atende_logs.http.paths import route_path
from atende_logs.http.request_id import EXAMPLE_REQUEST_ID, REQUEST_ID_HEADER
from atende_logs.kinds import KINDS
from atende_logs.ratelimit import AuthFailures, Buckets, InFlight, Policy, Shares, Turn, Verdict

CONCURRENCY_RETRY_AFTER_S = 1
"""A slot frees when some request of the key ends, which no one can foretell: ask for 1 s."""
KEY_PARTITION = "key:"
"""How the partition key of a well-formed key starts (that of an address: ``addr:``)."""
MAX_DELAYED_REFUSALS = 1_000
"""Refusals held back at once per process (a sleeping coroutine each); past it, at once."""
METRICS_PATH = "/metrics"
SCRAPE_PARTITION = "scrape:"
"""How the partition key of a /metrics bearer token starts (its SHA-256 follows)."""

_current_turn: ContextVar[Turn | None] = ContextVar("atende_key_turn", default=None)


@asynccontextmanager
async def key_turn() -> AsyncIterator[None]:
    """A turn of the current request's key at the database threads, for work done after its
    answer started (an export's later chunks); nothing to wait for with the limits off."""
    turn = _current_turn.get()
    if turn is None:
        yield
        return
    async with turn:
        yield


def give_turn() -> None:
    """Give back the current request's turn at the database threads before its answer: a
    long-poll (``routes.changes``) holds none while it waits, and takes one again with
    ``key_turn`` to read."""
    turn = _current_turn.get()
    if turn is not None:
        turn.give()


@dataclass(frozen=True)
class Limits:
    """The limits of one group of routes, and the header that carries their key."""

    rate: Policy
    concurrency: int
    key_header: bytes
    key_type: SecretType

    @property
    def policy_field(self) -> str:
        return (
            f'"{self.rate.name}";q={self.rate.quota};w={self.rate.window_s}, '
            f'"{self.rate.name}-concurrent";q={self.concurrency};qu="concurrent-requests"'
        )

    def limit_field(self, verdict: Verdict, free_slots: int) -> str:
        return (
            f'"{self.rate.name}";r={verdict.remaining};t={verdict.wait_s}, '
            f'"{self.rate.name}-concurrent";r={max(0, free_slots)}'
        )


def auth_failure_policy(settings: Settings) -> Policy:
    """401s to well-formed keys, per client address, on every limited route."""
    return Policy("auth-failures", settings.auth_failure_quota, settings.auth_failure_window_s)


def search_limits(settings: Settings) -> Limits:
    """Customer keys on the three search endpoints."""
    rate = Policy("api", settings.rate_limit_quota, settings.rate_limit_window_s)
    header = auth.API_KEY.header.encode()
    return Limits(rate, settings.concurrent_requests_per_key, header, CUSTOMER_KEY)


def ingest_limits(settings: Settings) -> Limits:
    """Ingest keys on the batch endpoints."""
    rate = Policy("ingest", settings.ingest_rate_limit_quota, settings.ingest_rate_limit_window_s)
    header = auth.INGEST_KEY.header.encode()
    return Limits(rate, settings.concurrent_requests_per_key, header, INGEST_KEY)


_INGEST_PREFIX = "/ingest/"


@dataclass(frozen=True)
class RouteLimits:
    """Which routes are limited, and how."""

    search: Limits
    ingest: Limits
    search_paths: frozenset[str]
    """Every kind's search path and change feed path (whose long-polls count against the
    same quotas, docs/sync.md), as ``KINDS`` holds them when the app is made."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RouteLimits:
        search_paths = frozenset(
            path
            for kind in KINDS.values()
            for path in (kind.path, kind.changes_path, kind.stats_path)
        )
        return cls(search_limits(settings), ingest_limits(settings), search_paths)

    def of(self, path: str) -> Limits | None:
        """The limits of a route path (``http.paths.route_path``: the request's path without
        its root path) or an OpenAPI path template; None: unlimited."""
        if path in self.search_paths:
            return self.search
        if path.startswith(_INGEST_PREFIX):
            return self.ingest
        return None


def partition_key(scope: Scope, limits: Limits) -> str:
    """Whose quota a request spends: its key's digest, or its client address."""
    for name, value in scope["headers"]:
        if name == limits.key_header:
            key = value.decode("latin-1")
            if credentials.is_well_formed(key, limits.key_type):
                return KEY_PARTITION + credentials.digest(key)
            break
    return client_address(scope)


def scrape_partition(scope: Scope) -> str | None:
    """The partition key of a /metrics request's ``Authorization`` header; None without."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return SCRAPE_PARTITION + hashlib.sha256(value).hexdigest()
    return None


def client_address(scope: Scope) -> str:
    """The partition key of the request's client address (the real client's, behind a
    trusted proxy)."""
    client = scope.get("client")
    return "addr:" + (client[0] if client else "unknown")


class RateLimitMiddleware:
    """Answers 429 to a key over its quota or its concurrency cap, and to an address out of
    failed authentications; labels every answer; makes a key's requests take turns at the
    database threads."""

    def __init__(self, app: ASGIApp, settings: Settings, buckets: Buckets) -> None:
        self.app = app
        self.buckets = buckets
        self.in_flight = InFlight()
        self.shares = Shares()
        self.threads_per_key = settings.db_threads_per_key
        self.failures = AuthFailures(buckets, auth_failure_policy(settings))
        self.routes = RouteLimits.from_settings(settings)
        self.guard_scrapes = settings.metrics_token is not None
        self.refusal_delay_s = settings.rate_limit_refusal_delay_ms / 1000
        self.max_delayed = MAX_DELAYED_REFUSALS
        self.delayed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        limits = self.routes.of(path)
        if limits is None:
            if path == METRICS_PATH and self.guard_scrapes:
                await self._scrape(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        key = partition_key(scope, limits)
        address = client_address(scope)
        digest = key if key.startswith(KEY_PARTITION) else None  # None: no lookup to spare
        blocked = await self.failures.refusal(address, digest)
        if blocked is not None:
            await self._refuse_failures(scope, receive, send, blocked)
            return
        verdict = await self.buckets.consume(key, limits.rate)
        if not verdict.allowed or not self.in_flight.try_enter(key, limits.concurrency):
            await self._refuse(scope, receive, send, limits, verdict, key)
            return
        turn = self.shares.turn(key, self.share_size())
        try:
            await turn.take()
            token = _current_turn.set(turn)
            try:
                labelled = self._labelling(send, limits, verdict, key, address, digest, turn)
                await self.app(scope, receive, labelled)
            finally:
                _current_turn.reset(token)
        finally:
            # Also when the handler raised or the client went away mid-stream: ASGI returns
            # from the app (or raises through here) in every case, so the slots come back.
            turn.give()
            self.in_flight.leave(key)

    def share_size(self) -> int:
        """Database threads one key may hold at once in this process."""
        if self.threads_per_key is not None:
            return self.threads_per_key
        threads = to_thread.current_default_thread_limiter().total_tokens
        return max(1, int(threads) - 1)

    async def _scrape(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A /metrics request: a wrong token spends its address's failures like a forged key."""
        address = client_address(scope)
        digest = scrape_partition(scope)
        blocked = await self.failures.refusal(address, digest)
        if blocked is not None:
            await self._refuse_failures(scope, receive, send, blocked)
            return
        if digest is None:  # no token, no guess: nothing to count
            await self.app(scope, receive, send)
            return

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._note_authentication(message["status"], address, digest)
            await send(message)

        await self.app(scope, receive, noting)

    def _labelling(
        self,
        send: Send,
        limits: Limits,
        verdict: Verdict,
        key: str,
        address: str,
        digest: str | None,
        turn: Turn,
    ) -> Send:
        """``send``, adding the limit fields to the answer, noting what it says of a
        well-formed key (authenticated, 2xx, or not, 401) and giving back the key's turn:
        a page's database work is over once its answer starts."""
        fields = [
            (b"ratelimit-policy", limits.policy_field.encode()),
            (b"ratelimit", limits.limit_field(verdict, self._free(key, limits)).encode()),
        ]

        async def send_labelled(message: Message) -> None:
            if message["type"] == "http.response.start":
                turn.give()
                message["headers"] = [*message.get("headers", ()), *fields]
                if digest is not None:
                    await self._note_authentication(message["status"], address, digest)
            await send(message)

        return send_labelled

    async def _note_authentication(self, status: int, address: str, digest: str) -> None:
        # Noted before the answer goes out, so a client that waits for each answer finds
        # its address blocked on the very next request.
        if 200 <= status < 300:
            await self.failures.succeeded(digest)
        elif status == 401:
            await self.failures.failed(address, digest)

    def _free(self, key: str, limits: Limits) -> int:
        return limits.concurrency - self.in_flight.running(key)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        limits: Limits,
        verdict: Verdict,
        key: str,
    ) -> None:
        if not verdict.allowed:
            wait = verdict.wait_s
            code, message = "rate_limited", f"limite de requisições excedido; tente em {wait} s"
            count_rate_limited(limits.rate.name)
        else:
            wait = CONCURRENCY_RETRY_AFTER_S
            code = "concurrency_limited"
            message = f"mais de {limits.concurrency} requisições simultâneas com esta chave"
            count_rate_limited(f"{limits.rate.name}-concurrent")
        fields = {
            "RateLimit-Policy": limits.policy_field,
            "RateLimit": limits.limit_field(verdict, self._free(key, limits)),
        }
        await self._answer_429(scope, receive, send, code, message, wait, fields)

    async def _refuse_failures(
        self, scope: Scope, receive: Receive, send: Send, verdict: Verdict
    ) -> None:
        policy = self.failures.policy
        count_rate_limited(policy.name)
        message = (
            f"autenticações recusadas demais a partir deste endereço; tente em {verdict.wait_s} s"
        )
        fields = {
            "RateLimit-Policy": f'"{policy.name}";q={policy.quota};w={policy.window_s}',
            "RateLimit": f'"{policy.name}";r={verdict.remaining};t={verdict.wait_s}',
        }
        await self._answer_429(
            scope, receive, send, "auth_failures_limited", message, verdict.wait_s, fields
        )

    async def _answer_429(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        code: str,
        message: str,
        wait: int,
        fields: dict[str, str],
    ) -> None:
        await self._hold_back(min(self.refusal_delay_s, wait))
        response = error_response(429, code, message)
        response.headers.update({"Retry-After": str(wait), **fields})
        await response(scope, receive, send)

    async def _hold_back(self, seconds: float) -> None:
        """Sleep before refusing: an answer at once invites a client looping on 429s to
        spend the server's CPU on nothing but refusals (docs/benchmarks-history.md, "Rate
        limits")."""
        if seconds <= 0 or self.delayed >= self.max_delayed:
            return
        self.delayed += 1
        try:
            await anyio.sleep(seconds)
        finally:
            self.delayed -= 1


def limit_fields(limits: Limits) -> dict[str, Any]:
    """The OpenAPI headers of every answer of a route with ``limits``."""
    rate = limits.rate
    return {
        "RateLimit-Policy": {
            "description": "The key's quotas (IETF draft-ietf-httpapi-ratelimit-headers): "
            "`q` requests at once, refilled over `w` seconds; `q` concurrent requests.",
            "schema": {"type": "string", "example": limits.policy_field},
        },
        "RateLimit": {
            "description": "What the key may still spend: `r` requests now, one more after "
            "`t` seconds; `r` more concurrent requests.",
            "schema": {
                "type": "string",
                "example": f'"{rate.name}";r=42;t=1, '
                f'"{rate.name}-concurrent";r={limits.concurrency - 1}',
            },
        },
    }


def refusal_answer(limits: Limits, settings: Settings) -> dict[str, Any]:
    """The OpenAPI 429 answer of a route with ``limits``."""
    rate = limits.rate
    failures = auth_failure_policy(settings)
    wait = math.ceil(rate.window_s / rate.quota)
    example = error_body(
        429,
        "rate_limited",
        f"limite de requisições excedido; tente em {wait} s",
        None,
        EXAMPLE_REQUEST_ID,
    )
    return {
        "description": f"Over the key's quota ({rate.quota} requests, refilled over "
        f"{rate.window_s} s; code `rate_limited`) or over {limits.concurrency} requests in "
        "flight at once (code `concurrency_limited`). Requests without a well-formed key "
        "count against the client address. Each 401 to a well-formed key also spends one of "
        f"its client address's {failures.quota} failed authentications (refilled over "
        f"{failures.window_s} s); with none left, the address's requests get 429 (code "
        f'`auth_failures_limited`, the RateLimit fields naming the "{failures.name}" policy) '
        "before their key is looked up, except those whose key got a 2xx answer lately. The "
        f"answer is held back up to {settings.rate_limit_refusal_delay_ms} ms, never past its "
        "Retry-After.",
        "headers": {
            "Retry-After": {
                "description": "Seconds after which the next request goes through.",
                "schema": {"type": "integer"},
            },
            REQUEST_ID_HEADER: {"description": "The request's id.", "schema": {"type": "string"}},
            **limit_fields(limits),
        },
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/ErrorBody"},
                "example": example,
            }
        },
    }
