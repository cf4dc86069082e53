"""The three documented GET endpoints, one handler shape for every kind."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from atende_logs.config import Settings
from atende_logs.formats import Format
from atende_logs.http.auth import API_KEY, KeyAuth
from atende_logs.http.export import VARY, OpenedExport, export_response, open_export
from atende_logs.http.lean_route import LeanRoute
from atende_logs.http.negotiation import preferred_format
from atende_logs.http.openapi import error_answer, other_client_errors, search_operation
from atende_logs.http.responses import page_body
from atende_logs.kinds import KINDS, Kind
from atende_logs.models import Page
from atende_logs.query import parse_listing
from atende_logs.query.parse import TOKEN_HEADER
from atende_logs.storage import Store

SEARCH_ERRORS: dict[int | str, dict[str, Any]] = other_client_errors() | {
    status: error_answer(status, description, code, message, param)
    for status, description, code, message, param in [
        (
            400,
            "Parâmetro inválido",
            "invalid_parameter",
            "size deve ser um inteiro entre 1 e 1000: '0'",
            "size",
        ),
        (
            401,
            "Chave ausente, inválida ou revogada",
            "unauthorized",
            "chave de API ausente, inválida ou revogada",
            None,
        ),
        (404, "Discador não encontrado (fichas)", "not_found", "discador não encontrado", None),
        (
            503,
            "Banco de dados indisponível ou consulta longa demais",
            "query_timeout",
            "a consulta excedeu o tempo limite",
            None,
        ),
    ]
}


def search_route(kind: Kind, auth: KeyAuth[int]) -> LeanRoute:
    """The GET route of ``kind``'s documented path, authenticated by ``auth``."""

    async def search(request: Request) -> Response:
        state = request.app.state
        params = request.query_params.multi_items()
        wanted = preferred_format(request.headers.get("accept"))
        key = auth.credential(request)
        token = request.headers.get(TOKEN_HEADER) if kind.scope.by_dialer else None
        # One hop to a worker thread for all the blocking work: each hop costs more than
        # the key lookup itself. The key is checked first, so a bad key answers 401 whatever
        # the parameters.
        found = await run_in_threadpool(
            _search, kind, auth, state.store, state.settings, key, params, wanted, token
        )
        if isinstance(found, Page):
            return Response(page_body(found), media_type="application/json", headers=VARY)
        return export_response(found)

    return LeanRoute(
        kind.path,
        search,
        auth=auth,
        name=f"search_{kind.table}",
        methods=["GET"],
        summary=kind.summary,
        description=kind.description,
        tags=["API de Clientes"],
        responses=SEARCH_ERRORS,
        openapi_extra=search_operation(kind),
    )


def _search(
    kind: Kind,
    auth: KeyAuth[int],
    store: Store,
    settings: Settings,
    key: str,
    params: list[tuple[str, str]],
    wanted: Format,
    token_header: str | None = None,
) -> Page | OpenedExport:
    """A page, or an export with its first chunk read (so its errors are still JSON)."""
    with store.session():  # one connection for the key check and the query
        customer_id = auth.check(store, key)
        query, output = parse_listing(
            kind,
            params,
            default_format=wanted,
            customer_id=customer_id,
            default_tz=settings.timezone,
            token_header=token_header,
        )
        if output.format is Format.JSON:
            return store.search(query)
        return open_export(store, query, output)


def search_router(kinds: Iterable[Kind]) -> APIRouter:
    """The search endpoint of each of ``kinds``, at its documented path."""
    router = APIRouter()
    for kind in kinds:
        router.routes.append(search_route(kind, auth=API_KEY))
    return router


router = search_router(KINDS.values())
