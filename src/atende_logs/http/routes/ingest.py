"""Batch ingestion for the platform's producers, authenticated by an ingest key.

Each request is one transaction: its valid records are all stored or, if the database
fails, none is, so a producer can retry a failed batch safely (ingest is idempotent).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from atende_logs.config import Settings
from atende_logs.errors import (
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from atende_logs.http.deps import IngestKeyDep, SettingsDep, StoreDep, authorize_ingest
from atende_logs.http.metrics import count_ingest
from atende_logs.http.openapi import (
    IngestSummary,
    error_answer,
    ingest_body,
    other_client_errors,
)
from atende_logs.http.request_id import current_request_id
from atende_logs.http.responses import JSONResponse
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.readers import Format, Record, read_records
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, Kind
from atende_logs.models import IngestKey, IngestResult
from atende_logs.query.times import zone
from atende_logs.storage.base import Store

router = APIRouter(prefix="/ingest", tags=["Ingestão"])
audit_log = logging.getLogger("atende_logs.ingest")

# Ids are PostgreSQL `integer` serials: one outside 1..2**31-1 names no row, and would
# overflow the driver's parameter (a 500) before the lookup could answer 404.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]

_FORMATS: dict[str, Format] = {
    "": "auto",
    "application/json": "auto",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/x-jsonlines": "ndjson",
    "text/csv": "csv",
}


def _format(content_type: str | None, kind: Kind) -> Format:
    media = (content_type or "").split(";")[0].strip().lower()
    fmt = _FORMATS.get(media)
    if fmt is None or (fmt == "csv" and not kind.has_dialer):
        raise UnsupportedMediaTypeError(f"tipo de conteúdo não aceito: {media!r}")
    return fmt


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
    return b"".join(chunks)


def _at_most(records: Iterator[Record], limit: int) -> Iterator[Record]:
    for count, record in enumerate(records, start=1):
        if count > limit:
            raise PayloadTooLargeError(f"o lote tem mais de {limit} registros")
        yield record


def _store_batch(
    store: Store,
    settings: Settings,
    kind: Kind,
    customer_id: int,
    dialer_id: int | None,
    body: bytes,
    fmt: Format,
) -> IngestResult:
    if store.get_customer(customer_id) is None:
        raise NotFoundError(f"cliente {customer_id} não existe")
    if dialer_id is not None and store.get_dialer(customer_id, dialer_id) is None:
        raise NotFoundError(f"discador {dialer_id} não existe para o cliente {customer_id}")
    records = _at_most(read_records(io.BytesIO(body), fmt), settings.ingest_max_records)
    # One batch for the whole request, written only after the last record was read (hence
    # the + 1): all of it is stored in one transaction, or nothing when it is over a limit.
    return ingest(
        store,
        customer_id,
        kind,
        records,
        zone=zone(settings.timezone),
        dialer_id=dialer_id,
        batch_size=settings.ingest_max_records + 1,
    )


async def _ingest(
    request: Request,
    store: Store,
    settings: Settings,
    kind: Kind,
    key: IngestKey,
    customer_id: int,
    dialer_id: int | None = None,
) -> JSONResponse:
    try:
        authorize_ingest(key, customer_id, kind)
    except ForbiddenError:
        _audit("ingest_refused", key, kind, customer_id, dialer_id)
        raise
    fmt = _format(request.headers.get("content-type"), kind)
    body = await _read_body(request, settings.ingest_max_bytes)
    result = await run_in_threadpool(
        _store_batch, store, settings, kind, customer_id, dialer_id, body, fmt
    )
    count_ingest(kind.name, result)
    _audit("ingest_batch", key, kind, customer_id, dialer_id, result)
    return JSONResponse(result.as_dict())


def _audit(
    event: str,
    key: IngestKey,
    kind: Kind,
    customer_id: int,
    dialer_id: int | None,
    result: IngestResult | None = None,
) -> None:
    """One JSON line per batch stored or refused: which ingest key wrote what, where (never
    a secret; the request id joins it to the access log line)."""
    entry: dict[str, Any] = {
        "event": event,
        "ingest_key_id": key.id,
        "customer_id": customer_id,
        "kind": kind.name,
    }
    if dialer_id is not None:
        entry["dialer_id"] = dialer_id
    if result is not None:
        entry |= {"stored": result.stored, "replaced": result.replaced, "rejected": result.rejected}
    entry["request_id"] = current_request_id()
    log = audit_log.info if result is not None else audit_log.warning
    log(orjson.dumps(entry).decode())


_RESULT: dict[int | str, dict[str, Any]] = {
    200: {
        "model": IngestSummary,
        "description": "Counts of stored, replaced and rejected records, with each "
        "rejection's position (line number, or element number in a JSON array) and reason.",
    },
    400: error_answer(
        400,
        "Id no caminho que não é um inteiro de 1 a 2147483647",
        "invalid_parameter",
        "customer_id inválido",
        "customer_id",
    ),
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


@router.post(
    "/customers/{customer_id}/attendant-logs",
    openapi_extra=ingest_body(ATTENDANT_LOGS),
    responses=_RESULT,
)
async def ingest_attendant_logs(
    request: Request, customer_id: RowId, key: IngestKeyDep, store: StoreDep, settings: SettingsDep
) -> JSONResponse:
    """Store attendant logs (identified by `id`, ordered by `timestamp`)."""
    return await _ingest(request, store, settings, ATTENDANT_LOGS, key, customer_id)


@router.post("/customers/{customer_id}/cdrs", openapi_extra=ingest_body(CDRS), responses=_RESULT)
async def ingest_cdrs(
    request: Request, customer_id: RowId, key: IngestKeyDep, store: StoreDep, settings: SettingsDep
) -> JSONResponse:
    """Store CDRs (identified by `callid`, ordered by `ori_start_time`)."""
    return await _ingest(request, store, settings, CDRS, key, customer_id)


@router.post(
    "/customers/{customer_id}/dialers/{dialer_id}/cards",
    openapi_extra=ingest_body(CARDS),
    responses=_RESULT,
)
async def ingest_cards(
    request: Request,
    customer_id: RowId,
    dialer_id: RowId,
    key: IngestKeyDep,
    store: StoreDep,
    settings: SettingsDep,
) -> JSONResponse:
    """Store dialer-queue cards of one dialer (identified by `id`, or by number and time)."""
    return await _ingest(request, store, settings, CARDS, key, customer_id, dialer_id)
