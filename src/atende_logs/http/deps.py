"""Request dependencies: the store, the settings, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from atende_logs.config import Settings
from atende_logs.errors import AuthenticationError, ForbiddenError
from atende_logs.kinds import Kind
from atende_logs.models import IngestKey
from atende_logs.storage.base import Store

CUSTOMER_KEY_HEADER = "x-api-key"
_customer_key = APIKeyHeader(
    name=CUSTOMER_KEY_HEADER,
    auto_error=False,
    scheme_name="ApiKey",
    description="API Token de autenticação (chave do cliente)",
)
_ingest_key = APIKeyHeader(
    name="x-ingest-key",
    auto_error=False,
    scheme_name="IngestKey",
    description="Chave de ingestão dos produtores da plataforma; não lê logs.",
)


# Dependencies that do no I/O are async: FastAPI runs a sync dependency on a worker
# thread, and each hop costs more than the work. Those that touch the database hop once.


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def customer_of(store: Store, key: str | None) -> int:
    """The customer id of a live API key; 401 for anything else. Blocking: call it on a
    worker thread, together with the request's other database work.

    Missing, malformed, unknown and revoked keys get the same answer, revealing nothing.
    """
    customer_id = store.authenticate(key or "")
    if customer_id is None:
        raise AuthenticationError("chave de API ausente, inválida ou revogada")
    return customer_id


async def authenticate_ingest(
    store: StoreDep, key: Annotated[str | None, Security(_ingest_key)]
) -> IngestKey:
    found = await run_in_threadpool(store.authenticate_ingest, key or "")
    if found is None:
        raise AuthenticationError("chave de ingestão ausente, inválida ou revogada")
    return found


def authorize_ingest(key: IngestKey, customer_id: int, kind: Kind) -> None:
    """403 unless ``key`` may write ``kind`` for ``customer_id``. Checked before the body is
    read and before the customer is looked up, so a key learns nothing of a customer
    outside its scope, not even whether it exists."""
    if not key.scope.allows(customer_id, kind.name):
        raise ForbiddenError(
            f"a chave de ingestão não pode gravar {kind.name} do cliente {customer_id}"
        )


CUSTOMER_KEY = Security(_customer_key)
"""The ``x-api-key`` requirement, for the OpenAPI document of the routes that read the
header themselves and check it with ``customer_of`` (``routes.logs``)."""
IngestKeyDep = Annotated[IngestKey, Depends(authenticate_ingest)]
