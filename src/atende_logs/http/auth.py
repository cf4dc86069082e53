"""How a route authenticates its requests: one ``Auth`` per credential.

An ``Auth`` names where its credential comes, checks it, and is the OpenAPI security scheme
that documents it: one object, so the document cannot declare a check a route does not make.
A route takes its ``Auth`` in code beside its handler, in one of two ways:

- a lean route (``http.lean_route``) as its ``auth``, which its handler calls on the worker
  thread that runs the rest of its database work (``API_KEY.check``);
- any other route as a dependency, ``Depends(INGEST_KEY)``, which FastAPI runs.

``http.openapi`` finds the ``Auth`` of every route in those two places, and only there, to
write each operation's security requirement.
"""

from __future__ import annotations

import hmac
import ipaddress
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool

from atende_logs.config import Settings
from atende_logs.errors import AuthenticationError, ScrapesRefusedError
from atende_logs.models import IngestKey
from atende_logs.storage.base import Store

Who = TypeVar("Who")


class Auth(ABC, Generic[Who]):
    """A credential a route requires: how it is checked, and how the document declares it."""

    scheme: str
    """The name of its OpenAPI security scheme."""

    @abstractmethod
    async def __call__(self, request: Request) -> Who:
        """Who is calling; raises AuthenticationError (401) or ForbiddenError (403). This is
        the dependency form: ``Depends(auth)``."""

    @abstractmethod
    def security_scheme(self) -> dict[str, Any]:
        """Its entry of the document's ``components.securitySchemes``."""

    def required(self, settings: Settings) -> bool:
        """Whether ``settings`` make the route ask for the credential, so that the document
        declares it; a key always does."""
        return True


@dataclass(frozen=True, eq=False)
class KeyAuth(Auth[Who]):
    """A key sent in a header and looked up in the store."""

    scheme: str
    header: str
    description: str
    lookup: Callable[[Store, str], Who | None]
    """The store's look-up: who the key belongs to, None for any key that does not count."""
    refusal: str
    """The 401's message: the same for a missing, malformed, unknown or revoked key."""

    def credential(self, request: Request) -> str:
        return request.headers.get(self.header) or ""

    def check(self, store: Store, credential: str) -> Who:
        """Who ``credential`` belongs to; 401 for anything else. Blocking: call it on a
        worker thread, with the request's other database work."""
        found = self.lookup(store, credential)
        if found is None:
            raise AuthenticationError(self.refusal)
        return found

    async def __call__(self, request: Request) -> Who:
        store: Store = request.app.state.store
        return await run_in_threadpool(self.check, store, self.credential(request))

    def security_scheme(self) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "description": self.description,
            "in": "header",
            "name": self.header,
        }


API_KEY: KeyAuth[int] = KeyAuth(
    scheme="ApiKey",
    header="x-api-key",
    description="API Token de autenticação (chave do cliente)",
    lookup=lambda store, key: store.authenticate(key),
    refusal="chave de API ausente, inválida ou revogada",
)
"""A customer's key: who reads logs (the customer's id)."""
INGEST_KEY: KeyAuth[IngestKey] = KeyAuth(
    scheme="IngestKey",
    header="x-ingest-key",
    description="Chave de ingestão dos produtores da plataforma; não lê logs.",
    lookup=lambda store, key: store.authenticate_ingest(key),
    refusal="chave de ingestão ausente, inválida ou revogada",
)
"""A producer's key: who writes logs, and where it may."""

BAD_SCRAPE_TOKEN = "token de métricas ausente ou inválido"
NO_SCRAPE_TOKEN = (
    "defina ATENDE_METRICS_TOKEN: sem ele, /metrics só responde a um servidor que escuta "
    "apenas em loopback, e a pedidos que nenhum proxy encaminhou"
)
# Headers a proxy adds: a request carrying one may come from anywhere, even over loopback.
_FORWARDING_HEADERS = frozenset({"forwarded", "x-forwarded-for", "x-real-ip"})


def listens_on_loopback(settings: Settings) -> bool:
    """Whether the server said it listens on a loopback address only (``serve --host``)."""
    host = settings.listen_host
    if host is None:
        return False  # served by other means: it may be reachable from anywhere
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def scrape_allowed(settings: Settings, request: Request) -> bool:
    """Whether /metrics may answer ``request`` without a token: the server listens on
    loopback alone and no proxy forwarded the request (a proxy on the same host would
    otherwise hand it to anyone)."""
    if not listens_on_loopback(settings):
        return False
    return not any(name in _FORWARDING_HEADERS for name in request.headers)


class ScrapeToken(Auth[None]):
    """The Prometheus scraper's ``Authorization: Bearer <ATENDE_METRICS_TOKEN>``. Without that
    setting there is no token to check: only a server listening on loopback alone answers,
    to requests no proxy forwarded, and any other gets 403."""

    scheme = "MetricsToken"

    async def __call__(self, request: Request) -> None:
        settings: Settings = request.app.state.settings
        if settings.metrics_token is None:
            if not scrape_allowed(settings, request):
                raise ScrapesRefusedError(NO_SCRAPE_TOKEN)
            return
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        given = token.encode() if scheme.lower() == "bearer" and token else b""
        if not hmac.compare_digest(given, settings.metrics_token.get_secret_value().encode()):
            raise AuthenticationError(BAD_SCRAPE_TOKEN)

    def security_scheme(self) -> dict[str, Any]:
        return {
            "type": "http",
            "description": "`Authorization: Bearer <ATENDE_METRICS_TOKEN>`.",
            "scheme": "bearer",
        }

    def required(self, settings: Settings) -> bool:
        return settings.metrics_token is not None


METRICS_TOKEN = ScrapeToken()
