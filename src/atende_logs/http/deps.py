"""Request dependencies: the store, the settings, and who is calling (``http.auth``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from atende_logs.config import Settings
from atende_logs.errors import ForbiddenError
from atende_logs.http.auth import INGEST_KEY
from atende_logs.kinds import Kind
from atende_logs.models import IngestKey
from atende_logs.storage.base import Store

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
IngestKeyDep = Annotated[IngestKey, Depends(INGEST_KEY)]
"""The ingest key a request authenticates with (``http.auth.INGEST_KEY``)."""


def authorize_ingest(key: IngestKey, customer_id: int, kind: Kind) -> None:
    """403 unless ``key`` may write ``kind`` for ``customer_id``. Checked before the body is
    read and before the customer is looked up, so a key learns nothing of a customer
    outside its scope, not even whether it exists."""
    if not key.scope.allows(customer_id, kind.name):
        raise ForbiddenError(
            f"a chave de ingestão não pode gravar {kind.name} do cliente {customer_id}"
        )
