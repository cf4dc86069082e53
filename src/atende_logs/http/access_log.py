"""A JSON access log that never records a secret or a whole phone number.

uvicorn's own access log prints the raw query string, which holds dialer tokens (cards'
``token`` parameter) and customers' phone numbers; this one masks them, and any secret
(``atl_live_…``, ``atl_ing_…``, ``atl_dlr_…``) sent by mistake in the query or the path.
Headers, where keys belong, are never logged. Each line carries the request's id
(``http.request_id``), the same as its response's ``X-Request-Id``.

The probes (``/healthz``, ``/readyz``, ``/metrics``) are asked every few seconds by each
orchestrator and Prometheus: their successes are left out unless ``ATENDE_ACCESS_LOG_PROBES``
is true, their failures always logged.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, unquote_plus, urlencode

import orjson
from starlette.types import Scope

from atende_logs.config import Settings
from atende_logs.http.request_id import current_request_id

logger = logging.getLogger("atende_logs.access")

SECRET_PARAMETERS = frozenset({"token"})
PHONE_PARAMETERS = frozenset({"ani", "alt_dnis", "number"})
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


_MASKED_NAMES = SECRET_PARAMETERS | PHONE_PARAMETERS
# after=card:<number>@<timestamp> (issue 4) carries a card's whole phone number.
_CARD_AFTER = "card:"
# Every secret starts "atl_" (atende_logs.credentials); its type prefix is safe to show.
_SECRET_START = "atl_"
# Lookbehinds, not a group: "atl_dlr_atl_live_…" must lose both random parts.
_SECRET = re.compile(r"(?:(?<=atl_live_)|(?<=atl_ing_)|(?<=atl_dlr_))[0-9A-Za-z]+")
_TRIGGERS = (*_MASKED_NAMES, _CARD_AFTER, _SECRET_START)


def redact_secrets(text: str) -> str:
    """``text`` with the random part of every secret in it replaced by ``***``."""
    return _SECRET.sub("***", text) if _SECRET_START in text else text


def redact_query(query: str) -> str:
    """The query string with secrets replaced and phone numbers cut to their last 4 digits."""
    # Most queries name no masked parameter: hand those back as they came, without parsing
    # (it was ~30 µs of each request). Every parameter name the parser can decode from the
    # query is a substring of the whole query decoded, so a name absent there is absent.
    decoded = unquote_plus(query) if "%" in query else query
    if not any(name in decoded for name in _TRIGGERS):
        return query
    pairs = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in SECRET_PARAMETERS:
            value = "***"
        elif name in PHONE_PARAMETERS:
            value = "***" + value[-4:] if len(value) > 4 else "***"
        elif name == "after" and _CARD_AFTER in value:
            # Only the timestamp, after the last "@", is kept (nothing when there is none).
            value = _CARD_AFTER + "***@" + (value.rpartition("@")[2] if "@" in value else "")
        pairs.append((redact_secrets(name), redact_secrets(value)))
    return urlencode(pairs, safe="*")


def _unlogged(scope: Scope, status: int) -> bool:
    """Whether the request is a probe's success, which is logged only on request."""
    if scope["path"] not in PROBE_PATHS or not 200 <= status < 300:
        return False
    # The settings the app's lifespan stored, as the request dependencies read them.
    settings: Settings | None = getattr(scope["app"].state, "settings", None)
    return settings is None or not settings.access_log_probes


def log_request(scope: Scope, status: int, seconds: float) -> None:
    """Write the request's line, unless it is a probe's success (``_unlogged``)."""
    if _unlogged(scope, status):
        return
    entry = {
        "method": scope["method"],
        "path": redact_secrets(scope["path"]),
        "query": redact_query(scope.get("query_string", b"").decode("latin-1")),
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "request_id": current_request_id(),
    }
    logger.info(orjson.dumps(entry).decode())
