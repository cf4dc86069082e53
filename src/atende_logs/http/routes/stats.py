"""The stats endpoint of each kind (issue 20): its listing's records counted per hour or day,
perhaps split by a field, under the list path (``/customers/cdrs/logs/stats``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from atende_logs.config import Settings
from atende_logs.http.auth import API_KEY, KeyAuth
from atende_logs.http.lean_route import LeanRoute
from atende_logs.http.openapi_stats import stats_operation
from atende_logs.http.routes.logs import SEARCH_ERRORS
from atende_logs.kinds import KINDS, Kind
from atende_logs.models import StatsQuery
from atende_logs.query.parse import TOKEN_HEADER
from atende_logs.query.stats import Bar, fold_bars, parse_stats
from atende_logs.storage import Store


def stats_route(kind: Kind, auth: KeyAuth[int]) -> LeanRoute:
    """The GET route of ``kind``'s stats, authenticated by ``auth``."""

    async def stats(request: Request) -> Response:
        state = request.app.state
        params = request.query_params.multi_items()
        key = auth.credential(request)
        token = request.headers.get(TOKEN_HEADER) if kind.scope.by_dialer else None
        body = await run_in_threadpool(
            _stats, kind, auth, state.store, state.settings, key, params, token
        )
        return Response(body, media_type="application/json")

    return LeanRoute(
        kind.stats_path,
        stats,
        auth=auth,
        name=f"stats_{kind.table}",
        methods=["GET"],
        summary=f"Contagens: {kind.summary}",
        description=f"Os registros de {kind.path} contados por hora ou por dia, com os mesmos "
        "filtros, divididos pelos valores de um campo (`split`); a soma das barras é o "
        "`total` da listagem.",
        tags=["API de Clientes"],
        responses=SEARCH_ERRORS,
        openapi_extra=stats_operation(kind),
    )


def _stats(
    kind: Kind,
    auth: KeyAuth[int],
    store: Store,
    settings: Settings,
    key: str,
    params: list[tuple[str, str]],
    token_header: str | None,
) -> bytes:
    with store.session():  # one connection for the key check and the query
        customer_id = auth.check(store, key)
        query, tz = parse_stats(
            kind,
            params,
            customer_id=customer_id,
            default_tz=settings.timezone,
            token_header=token_header,
        )
        rows = store.stats(query)
    return stats_body(query, tz, fold_bars(query, rows))


def stats_body(query: StatsQuery, tz: ZoneInfo, bars: list[Bar]) -> bytes:
    """``{"total", "interval", "split", "tz", "buckets": [{"start", "total", "counts"}]}``."""
    split = query.split.param if query.split is not None else None
    buckets = []
    for bar in bars:
        bucket: dict[str, object] = {"start": _iso(bar.start_ms, tz), "total": bar.total}
        if split is not None:
            bucket["counts"] = bar.counts
        buckets.append(bucket)
    return orjson.dumps(
        {
            "total": sum(bar.total for bar in bars),
            "interval": query.interval,
            "split": split,
            "tz": tz.key,
            "buckets": buckets,
        }
    )


def _iso(ms: int, tz: ZoneInfo) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz)
    offset = moment.utcoffset()
    if offset is not None and offset.total_seconds() % 60:
        # A local mean time (Africa/Monrovia before 1972: -00:44:30) has no RFC 3339 form,
        # whose offsets are whole minutes: that bar's start is given in UTC.
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="seconds")


def stats_router(kinds: Iterable[Kind]) -> APIRouter:
    """The stats endpoint of each of ``kinds``."""
    router = APIRouter()
    for kind in kinds:
        router.routes.append(stats_route(kind, auth=API_KEY))
    return router


router = stats_router(KINDS.values())
