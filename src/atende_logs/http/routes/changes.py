"""The change feed of each kind (issue 16): ``GET <list path>/changes``.

What changed in the customer's records since a cursor, in commit order, each record's latest
state once, deletes included; with ``wait``, a long-poll that answers as soon as a change
commits. docs/sync.md says what it guarantees and how.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from atende_logs.config import Settings
from atende_logs.http.auth import API_KEY, KeyAuth
from atende_logs.http.export import VARY
from atende_logs.http.lean_route import LeanRoute
from atende_logs.http.openapi import changes_operation, error_answer
from atende_logs.http.rate_limit_middleware import give_turn, key_turn
from atende_logs.http.routes.logs import SEARCH_ERRORS
from atende_logs.http.sse import (
    LAST_EVENT_ID,
    EventStreamResponse,
    iso_ms,
    mark_head,
    resumed,
    tail,
    wants_events,
)
from atende_logs.kinds import KINDS, Kind
from atende_logs.models import ChangePage, ChangeQuery
from atende_logs.query.changes import encode_cursor, parse_changes
from atende_logs.query.parse import TOKEN_HEADER
from atende_logs.storage import ChangeWatch, Store

# The search's answers, but for the parameter a bad request names, and the feed's own 410.
_ERRORS: dict[int | str, dict[str, Any]] = SEARCH_ERRORS | {
    400: error_answer(
        400,
        "Parâmetro inválido",
        "invalid_parameter",
        "wait deve ser um inteiro entre 0 e 60: '61'",
        "wait",
    ),
    410: error_answer(
        410,
        "since anterior ao histórico guardado: recomece sem since",
        "history_expired",
        "since é anterior ao histórico de mudanças guardado (eventos de remoção mais "
        "antigos foram descartados): recomece sem since e substitua a sua cópia",
        "since",
    ),
}


def changes_route(kind: Kind, auth: KeyAuth[int]) -> LeanRoute:
    """The change feed route of ``kind``, authenticated by ``auth``."""

    async def changes(request: Request) -> Response:
        state = request.app.state
        params = request.query_params.multi_items()
        key = auth.credential(request)
        token = request.headers.get(TOKEN_HEADER) if kind.scope.by_dialer else None
        stream = wants_events(request.headers.get("accept"))
        last_event_id = request.headers.get(LAST_EVENT_ID) if stream else None
        loop = asyncio.get_running_loop()
        # One hop for the key check, the parameters and the first read, as a search does.
        # A long-poll's (or a stream's) watch is taken before that read: a change committing
        # after it fires the watch, so the wait below cannot miss it.
        query, wait_s, watch, page = await run_in_threadpool(
            _first,
            kind,
            auth,
            state.store,
            state.settings,
            key,
            params,
            token,
            loop,
            stream,
            last_event_id,
        )
        if stream:
            assert watch is not None
            heartbeat_s = state.settings.stream_heartbeat_s
            return EventStreamResponse(tail(state.store, query, watch, page, heartbeat_s), VARY)
        if watch is not None:
            with watch:
                page = await _wait_for_changes(state.store, query, watch, page, wait_s)
        return Response(changes_body(page), media_type="application/json", headers=VARY)

    return LeanRoute(
        kind.changes_path,
        changes,
        auth=auth,
        name=f"changes_{kind.table}",
        methods=["GET"],
        summary=f"Mudanças: {kind.summary}",
        description=f"Feed de mudanças de {kind.path}: inserções, substituições e remoções, "
        "em ordem de commit, a partir de um cursor (docs/sync.md).",
        tags=["Feed de mudanças"],
        responses=_ERRORS,
        openapi_extra=changes_operation(kind),
    )


def _first(
    kind: Kind,
    auth: KeyAuth[int],
    store: Store,
    settings: Settings,
    key: str,
    params: list[tuple[str, str]],
    token_header: str | None,
    loop: asyncio.AbstractEventLoop,
    stream: bool = False,
    last_event_id: str | None = None,
) -> tuple[ChangeQuery, float, ChangeWatch | None, ChangePage]:
    """The query, its wait, the watch of a long-poll or a stream, and the first page."""
    with store.session():
        customer_id = auth.check(store, key)
        if stream:
            params = resumed(params, last_event_id)
        query, wait_s = parse_changes(
            kind,
            params,
            customer_id=customer_id,
            default_tz=settings.timezone,
            token_header=token_header,
        )
        watch = store.watch_changes(customer_id, kind, loop) if wait_s > 0 or stream else None
        try:
            page = store.changes_since(query)
        except BaseException:
            if watch is not None:
                watch.__exit__(None, None, None)
            raise
    return query, wait_s, watch, page


async def _wait_for_changes(
    store: Store, query: ChangeQuery, watch: ChangeWatch, page: ChangePage, wait_s: float
) -> ChangePage:
    """``page``, or when it is empty, the first page with changes within ``wait_s``."""
    deadline = time.monotonic() + wait_s
    give_turn()  # the key's database turn is not held while waiting
    while not page.changes:
        left = deadline - time.monotonic()
        if left <= 0 or not await watch.changed(left):
            return page
        watch.clear()
        query = replace(query, since=page.position, since_ms=None)
        async with key_turn():
            page = await run_in_threadpool(store.changes_since, query)
    return page


def changes_body(page: ChangePage) -> bytes:
    """``{"changes": […], "cursor": …, "end_of_stream": …}``, documents spliced in as stored.

    One join of small pieces and the documents as they are: a document is never copied
    into a piece of its own first (that copy was half the time of a page of 1,000).
    """
    parts = [b'{"changes":[']
    for change in page.changes:  # as sse.change_json, inline: a page has up to 1,000
        if change.expired_before_ms is not None:  # a retention mark: a few per purge
            parts += (mark_head(change), b"},")
            continue
        parts.append(
            b'{"op":"%b","id":%b,"changed_at":"%b"'
            % (
                b"delete" if change.doc is None else b"upsert",
                orjson.dumps(change.doc_id),
                iso_ms(change.changed_at_ms),
            )
        )
        if change.doc is None:
            parts.append(b"},")
        else:
            parts += (b',"item":', change.doc, b"},")
    if page.changes:
        parts[-1] = b"}"
    parts.append(
        b'],"cursor":%b,"end_of_stream":%b}'
        % (
            orjson.dumps(encode_cursor(page.position)),
            b"true" if page.end_of_stream else b"false",
        )
    )
    return b"".join(parts)


def changes_router(kinds: Iterable[Kind]) -> APIRouter:
    """The change feed of each of ``kinds``."""
    router = APIRouter()
    for kind in kinds:
        router.routes.append(changes_route(kind, auth=API_KEY))
    return router


router = changes_router(KINDS.values())
