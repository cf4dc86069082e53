"""``/console``: a page where a customer sees, filters, charts and downloads their logs
(issue 20), over the public API only: the page is a client of the same endpoints.

The page is rendered here from the kinds (a kind's filters are its form, with their pt-BR
descriptions as labels, so a new filter appears with no change here); the browser does the
rest with ``static/console.js``. The API key never reaches this module: the page keeps it in
``sessionStorage`` and sends it in ``x-api-key`` to the API itself.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from atende_logs.kinds import KINDS, Kind
from atende_logs.query.stats import MAX_BARS

PAGE = "/console"
WORKER = "/console/download-worker.js"
"""The service worker that streams a download with the key in a header (``console.js``):
served below ``/console`` so that its scope covers the page's download URL."""

# What a supervisor reads first of each kind, as (label, dotted path | another path...).
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "cdrs": [
        ("Status", "call_status_humanized|call_status"),
        ("Número", "alt_dnis"),
        ("Origem", "ani"),
        ("Duração (s)", "duration_call|ori_billing_time"),
        ("Atendente", "my_tags"),
        ("Quem desligou", "call_terminated"),
        ("ID", "callid"),
    ],
    "attendant-logs": [
        ("Atendente", "attendant.name|attendant.email"),
        ("Tela", "screen_name|screen"),
        ("Tipo", "kind"),
        ("Duração (s)", "duration"),
        ("Chamada", "call.call_id"),
        ("ID", "id"),
    ],
    "cards": [
        ("Número", "number"),
        ("Status", "status"),
        ("Origem", "source"),
        ("Agendada para", "schedule"),
        ("ID", "id"),
    ],
}
# Everything from this server: no CDN, no font host (the page's test holds it to that).
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}

_templates = Jinja2Templates(
    directory=str(resources.files("atende_logs.http").joinpath("templates"))
)


def _kind_view(kind: Kind) -> dict[str, Any]:
    """What the page needs of a kind: its paths, form, split fields and columns."""
    return {
        "name": kind.name,
        "title": kind.summary,
        "path": kind.path,
        "stats_path": kind.stats_path,
        "time_field": kind.time_field,
        "by_dialer": kind.scope.by_dialer,
        "splits": list(kind.splits),
        "filters": [
            {"param": spec.param, "label": spec.description, "example": spec.example}
            for spec in kind.filters
        ],
        "columns": COLUMNS.get(kind.name, []),
    }


def console_router(timezone: str) -> APIRouter:
    """The console's page and its download worker; ``timezone`` is the form's default."""
    router = APIRouter(include_in_schema=False)

    @router.get(PAGE)
    async def console(request: Request) -> Response:
        kinds = [_kind_view(kind) for kind in KINDS.values()]
        root = str(request.scope.get("root_path", "")).rstrip("/")
        context = {"kinds": kinds, "root": root, "timezone": timezone, "max_bars": MAX_BARS}
        response = _templates.TemplateResponse(request, "console.html", context)
        response.headers.update(SECURITY_HEADERS)
        return response

    @router.get(WORKER)
    async def download_worker() -> Response:
        script = resources.files("atende_logs.http").joinpath("static", "download-worker.js")
        return Response(script.read_bytes(), media_type="text/javascript")

    return router
