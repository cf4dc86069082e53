"""A JSON access log that never records a secret or personal data.

uvicorn's own access log prints the raw query string, which holds dialer tokens (cards'
``token`` parameter), customers' phone numbers, attendants' names and e-mails: personal
data under the LGPD. This one shows a parameter's value only when the parameter is on a
list of harmless ones (``SHOWN_PARAMETERS``: times, page size, output shape and the
filters that name no person); every other value, of a known parameter or of one
misspelt or made up, becomes ``***`` (phone numbers keep their last 4 digits). Any secret
(``atl_live_…``, ``atl_ing_…``, ``atl_dlr_…``) in the path or in a shown name or value
loses its random part. Headers, where keys belong, are never logged. Each line carries the
request's id (``http.request_id``), the same as its response's ``X-Request-Id``.

The probes (``/healthz``, ``/readyz``, ``/metrics``) are asked every few seconds by each
orchestrator and Prometheus: their successes are left out unless ``ATENDE_ACCESS_LOG_PROBES``
is true, their failures always logged.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote_plus, unquote_plus

import orjson
from starlette.types import Scope

from atende_logs.config import Settings
from atende_logs.http.paths import route_path
from atende_logs.http.request_id import current_request_id
from atende_logs.query.output import OUTPUT_PARAMETERS

logger = logging.getLogger("atende_logs.access")

SECRET_PARAMETERS = frozenset({"token"})
PHONE_PARAMETERS = frozenset({"ani", "alt_dnis", "number"})
SHOWN_PARAMETERS = frozenset(
    {
        # Every endpoint's: times, paging (after=card: is cut below), output shape.
        *("start_at", "end_at", "tz", "size", "after", *OUTPUT_PARAMETERS),
        # Filters naming no person: kinds, screens, states, durations, amounts, and the
        # platform's own call ids (which reveal nothing without access to the logs).
        *("description", "duration", "source", "direction", "call_id", "voip_version"),
        *("kind", "screen", "ori_billing_time", "total_charge", "selected_options"),
        *("configuration_kind", "period", "call_terminated", "call_status", "status"),
    }
)
"""Parameters whose values the log shows; every other value is masked. Masked among the
documented ones: ``token``, the phone numbers, ``attendant_email``, ``attendant_name``,
``extension_number``, ``zendesk_ticket_id`` and the dialer's free-text ``card_info_*``."""
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

MASK = "***"
# An unknown name is shown when it is a word (a typo such as "Number" helps the reader);
# one with digits, "@" or anything else may itself be personal data, and is masked too.
_WORD = re.compile(r"[A-Za-z_]{1,40}")
# after=card:<number>@<timestamp> (issue 4) carries a card's whole phone number.
_CARD_AFTER = "card:"
# Every secret starts "atl_" (atende_logs.credentials); its type prefix is safe to show.
_SECRET_START = "atl_"
# Lookbehinds, not a group: "atl_dlr_atl_live_…" must lose both random parts.
_SECRET = re.compile(r"(?:(?<=atl_live_)|(?<=atl_ing_)|(?<=atl_dlr_))[0-9A-Za-z]+")


def redact_secrets(text: str) -> str:
    """``text`` with the random part of every secret in it replaced by ``***``."""
    return _SECRET.sub("***", text) if _SECRET_START in text else text


def redact_query(query: str) -> str:
    """The query string as the log shows it: values of parameters outside
    ``SHOWN_PARAMETERS`` masked, secrets cut, the rest as sent.

    Split as the app's parser splits it (``urllib.parse.parse_qsl``: on ``&``, the name
    before the first ``=``, both decoded), so the name judged is the name the app reads.
    """
    if not query:
        return query
    parts = query.split("&")
    # The usual query is logged as it came: every name shown, nothing to cut from a value.
    # Text cut from a decoded pair is in the decoded whole too, so one decoding tells.
    # Spelt out rather than any()/all() over generators: this runs on every request.
    decoded = _decoded(query)
    if _SECRET_START not in decoded and _CARD_AFTER not in decoded:
        for part in parts:
            name = part.partition("=")[0]
            if name not in SHOWN_PARAMETERS and _decoded(name) not in SHOWN_PARAMETERS:
                break
        else:
            return query
    return "&".join([_redacted(part) if part else part for part in parts])


def _decoded(text: str) -> str:
    return text if "%" not in text and "+" not in text else unquote_plus(text)


def _redacted(part: str) -> str:
    """One ``name=value`` as the log shows it."""
    raw_name, _, raw_value = part.partition("=")
    name, value = _decoded(raw_name), _decoded(raw_value)
    if name in SHOWN_PARAMETERS:
        shown = redact_secrets(value)
        if name == "after" and _CARD_AFTER in value:
            # Only the timestamp, after the last "@", is kept (nothing when there is none).
            shown = _CARD_AFTER + "***@" + (value.rpartition("@")[2] if "@" in value else "")
        if shown == value:
            return part  # nothing to cut: logged as sent
        return quote_plus(name) + "=" + quote_plus(shown, safe="*:@")
    shown = MASK + value[-4:] if name in PHONE_PARAMETERS and len(value) > 4 else MASK
    label = redact_secrets(name) if _WORD.fullmatch(name) else MASK
    return quote_plus(label, safe="*") + "=" + quote_plus(shown, safe="*")


def _unlogged(scope: Scope, status: int) -> bool:
    """Whether the request is a probe's success, which is logged only on request."""
    if route_path(scope) not in PROBE_PATHS or not 200 <= status < 300:
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
