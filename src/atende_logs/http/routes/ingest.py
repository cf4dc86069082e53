"""Batch ingestion for the platform's producers: one POST route per kind, made from the kind
(``ingest_router``), authenticated by an ingest key, over ``ingest.pipeline``.

Each request is one transaction: its valid records are all stored or, if the database
fails, none is, so a producer can retry a failed batch safely (ingest is idempotent).
"""

# Without ``from __future__ import annotations``: FastAPI reads a handler's annotations from
# its module's globals, and those of ``ingest_route``'s handlers name its ``auth``.

import io
import logging
from collections.abc import Iterable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from atende_logs.config import Settings
from atende_logs.errors import (
    EmptyBodyError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from atende_logs.formats import Format
from atende_logs.http.auth import INGEST_KEY, KeyAuth
from atende_logs.http.deps import SettingsDep, StoreDep, authorize_ingest
from atende_logs.http.errors import error_body
from atende_logs.http.metrics import count_ingest
from atende_logs.http.openapi import (
    IngestSummary,
    error_answer,
    ingest_body,
    other_client_errors,
)
from atende_logs.http.request_id import EXAMPLE_REQUEST_ID, current_request_id
from atende_logs.http.responses import JSONResponse
from atende_logs.ingest import pipeline
from atende_logs.ingest.pipeline import Owner
from atende_logs.kinds import KINDS, Kind
from atende_logs.models import IngestKey, IngestResult
from atende_logs.query.times import zone
from atende_logs.storage.base import Store

audit_log = logging.getLogger("atende_logs.ingest")

# Ids are PostgreSQL `integer` serials: one outside 1..2**31-1 names no row, and would
# overflow the driver's parameter (a 500) before the lookup could answer 404.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]

_FORMATS: dict[str, Format | None] = {
    "": None,
    "application/json": None,
    "application/x-ndjson": Format.NDJSON,
    "application/ndjson": Format.NDJSON,
    "application/jsonl": Format.NDJSON,
    "application/x-jsonlines": Format.NDJSON,
    "text/csv": Format.CSV,
}
"""The format of each media type taken; None: NDJSON or a JSON array, by the first byte."""
EMPTY_BODY = "corpo vazio: envie ao menos um registro"


def ingest_route(kind: Kind, auth: KeyAuth[IngestKey]) -> APIRoute:
    """The POST route of ``kind``'s ingest path (``/ingest`` and ``Kind.ingest_path``),
    authenticated by ``auth``. A kind kept per dialer names the dialer in its path."""
    Key = Annotated[IngestKey, Depends(auth)]

    async def of_customer(
        request: Request, customer_id: RowId, key: Key, store: StoreDep, settings: SettingsDep
    ) -> JSONResponse:
        return await _ingest(request, store, settings, kind, key, Owner(customer_id))

    async def of_dialer(
        request: Request,
        customer_id: RowId,
        dialer_id: RowId,
        key: Key,
        store: StoreDep,
        settings: SettingsDep,
    ) -> JSONResponse:
        owner = Owner(customer_id, dialer_id)
        return await _ingest(request, store, settings, kind, key, owner)

    return APIRoute(
        "/ingest" + kind.ingest_path,
        of_dialer if kind.scope.by_dialer else of_customer,
        methods=["POST"],
        name=f"ingest_{kind.table}",
        description=_description(kind),
        tags=["Ingestão"],
        responses=_RESULT,
        openapi_extra=ingest_body(kind),
    )


def ingest_router(kinds: Iterable[Kind]) -> APIRouter:
    """The ingest endpoint of each of ``kinds``, authenticated by an ingest key."""
    router = APIRouter()
    for kind in kinds:
        router.routes.append(ingest_route(kind, auth=INGEST_KEY))
    return router


def _description(kind: Kind) -> str:
    """What the route's operation says it does, from the kind's fields and policies."""
    of_dialer = " of one dialer" if kind.scope.by_dialer else ""
    identity = f"`{kind.id_field}`"
    if kind.derived_id_from is not None:
        identity += f" or by `{kind.derived_id_from}` and time"
    return (
        f"Store {kind.label}s{of_dialer} (identified by {identity}, "
        f"ordered by `{kind.time_field}`)."
    )


def _format(content_type: str | None, kind: Kind) -> Format | None:
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in _FORMATS or (_FORMATS[media] == Format.CSV and not kind.accepts_csv):
        raise UnsupportedMediaTypeError(f"tipo de conteúdo não aceito: {media!r}")
    return _FORMATS[media]


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"corpo maior que o limite de {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"corpo maior que o limite de {limit} bytes")
        chunks.append(chunk)
    if not size:
        raise EmptyBodyError(EMPTY_BODY)
    return b"".join(chunks)


def _store_batch(
    store: Store, settings: Settings, kind: Kind, owner: Owner, body: bytes, fmt: Format | None
) -> IngestResult:
    customer_id, dialer_id = owner.customer_id, owner.dialer_id
    if store.get_customer(customer_id) is None:
        raise NotFoundError(f"cliente {customer_id} não existe")
    if dialer_id is not None and store.get_dialer(customer_id, dialer_id) is None:
        raise NotFoundError(f"discador {dialer_id} não existe para o cliente {customer_id}")
    # One batch for the whole request, written only after the last record was read (hence
    # the + 1): all of it is stored in one transaction, or nothing when it is over a limit.
    # No ANALYZE after a batch: its answer would wait for it, and PostgreSQL's autovacuum
    # refreshes the statistics as batches add up.
    limit = settings.ingest_max_records
    return pipeline.run(
        store,
        io.BytesIO(body),
        kind,
        owner,
        zone=zone(settings.timezone),
        fmt=fmt,
        batch_size=limit + 1,
        max_records=limit,
        refresh_statistics=False,
    )


async def _ingest(
    request: Request,
    store: Store,
    settings: Settings,
    kind: Kind,
    key: IngestKey,
    owner: Owner,
) -> JSONResponse:
    try:
        authorize_ingest(key, owner.customer_id, kind)
    except ForbiddenError:
        _audit("ingest_refused", key, kind, owner)
        raise
    fmt = _format(request.headers.get("content-type"), kind)
    body = await _read_body(request, settings.ingest_max_bytes)
    result = await run_in_threadpool(_store_batch, store, settings, kind, owner, body, fmt)
    count_ingest(kind.name, result)
    _audit("ingest_batch", key, kind, owner, result)
    return JSONResponse(result.as_dict())


def _audit(
    event: str, key: IngestKey, kind: Kind, owner: Owner, result: IngestResult | None = None
) -> None:
    """One JSON line per batch stored or refused: which ingest key wrote what, where (never
    a secret; the request id joins it to the access log line)."""
    entry: dict[str, Any] = {
        "event": event,
        "ingest_key_id": key.id,
        "customer_id": owner.customer_id,
        "kind": kind.name,
    }
    if owner.dialer_id is not None:
        entry["dialer_id"] = owner.dialer_id
    if result is not None:
        entry |= {"stored": result.stored, "replaced": result.replaced, "rejected": result.rejected}
    entry["request_id"] = current_request_id()
    log = audit_log.info if result is not None else audit_log.warning
    log(orjson.dumps(entry).decode())


def _bad_request() -> dict[str, Any]:
    """The 400s: an id in the path out of range, or no body at all."""
    answer = error_answer(
        400,
        "Id no caminho que não é um inteiro de 1 a 2147483647 (`invalid_parameter`), ou "
        "requisição sem corpo (`empty_body`)",
        "invalid_parameter",
        "customer_id inválido",
        "customer_id",
    )
    examples = [
        ("Id fora do intervalo", "invalid_parameter", "customer_id inválido", "customer_id"),
        ("Sem corpo", "empty_body", EMPTY_BODY, None),
    ]
    answer["content"]["application/json"] = {
        "examples": {
            code: {
                "summary": summary,
                "value": error_body(400, code, message, param, EXAMPLE_REQUEST_ID),
            }
            for summary, code, message, param in examples
        }
    }
    return answer


_RESULT: dict[int | str, dict[str, Any]] = {
    200: {
        "model": IngestSummary,
        "description": "Counts of stored, replaced and rejected records, with each "
        "rejection's position (line number, or element number in a JSON array) and reason.",
    },
    400: _bad_request(),
    401: error_answer(
        401,
        "Chave de ingestão ausente, inválida ou revogada",
        "unauthorized",
        "chave de ingestão ausente, inválida ou revogada",
    ),
    403: error_answer(
        403,
        "Cliente ou tipo de log fora do escopo da chave de ingestão (o mesmo para um cliente "
        "que não existe); nada do corpo é lido",
        "forbidden",
        "a chave de ingestão não pode gravar cdrs do cliente 7",
    ),
    404: error_answer(
        404,
        "Cliente (ou discador) inexistente, para uma chave cujo escopo o inclui",
        "not_found",
        "cliente 7 não existe",
    ),
    413: error_answer(
        413,
        "Corpo acima de `ATENDE_INGEST_MAX_BYTES` ou lote acima de `ATENDE_INGEST_MAX_RECORDS`",
        "payload_too_large",
        "o lote tem mais de 10000 registros",
    ),
    415: error_answer(
        415,
        "Tipo de conteúdo não aceito (CSV só para fichas)",
        "unsupported_media_type",
        "tipo de conteúdo não aceito: 'text/plain'",
    ),
    503: error_answer(
        503,
        "Banco de dados indisponível",
        "database_unavailable",
        "o banco de dados está indisponível",
    ),
    **other_client_errors(),
}


router = ingest_router(KINDS.values())
