"""A change feed request's parameters into a ``ChangeQuery`` and its wait (issue 16).

The feed takes every parameter of its kind's list endpoint but ``after`` (the filters, the
time bounds, ``size``, ``tz``, a cards feed's ``token``), plus ``since`` and ``wait``.
``since`` is the opaque ``cursor`` of an earlier answer (``c.`` then the base64url of
``[seq, doc_id]``, plus an object of named extras when there are any: ``floor``, the
history's horizon when the consumer began (``FeedPosition.floor``), and ``lsn``, where read
replicas serve the feed, the WAL position the page was read at; clients must not look
inside), or a date or date-time in the list
endpoints' forms, read in ``tz``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

import orjson

from atende_logs.errors import ParameterError
from atende_logs.kinds import Kind
from atende_logs.models import ChangeQuery, FeedPosition
from atende_logs.normalize import ASCII_DIGITS
from atende_logs.query.parse import _search_query, _single_values, accepted_parameters
from atende_logs.query.times import parse_instant, zone

CHANGE_PARAMETERS: dict[str, str] = {
    "since": "Cursor de uma resposta anterior, ou data/data-hora: mudanças a partir dela",
    "wait": "Segundos (0 a 60) a esperar por mudanças quando não houver nenhuma",
}
MAX_WAIT_S = 60
_CURSOR_PREFIX = "c."
_MAX_SEQ = 2**63 - 1
_MAX_LSN = 2**64 - 1


def accepted_change_parameters(kind: Kind) -> list[str]:
    """Every parameter of ``kind``'s change feed, in documentation order."""
    listing = [name for name in accepted_parameters(kind) if name != "after"]
    return listing + list(CHANGE_PARAMETERS)


def parse_changes(
    kind: Kind,
    pairs: Iterable[tuple[str, str]],
    *,
    customer_id: int,
    default_tz: str,
    token_header: str | None = None,
) -> tuple[ChangeQuery, float]:
    """Validate a change feed request of ``kind`` for ``customer_id``: the query, and how
    many seconds to wait for changes when none is left.

    Raises ParameterError naming the first parameter that is unknown, repeated, missing or
    malformed.
    """
    params = _single_values(accepted_change_parameters(kind), pairs)
    since_raw = params.pop("since", None)
    wait = _wait(params.pop("wait", None))
    tz = params.get("tz", default_tz)
    listing = _search_query(kind, params, customer_id, default_tz, token_header)
    if since_raw is None:
        return ChangeQuery(listing), wait
    text = since_raw.strip()
    if text.startswith(_CURSOR_PREFIX):
        return ChangeQuery(listing, since=decode_cursor(text)), wait
    since_ms = parse_instant(text, param="since", end=False, tz=zone(tz))
    return ChangeQuery(listing, since_ms=since_ms), wait


def encode_cursor(position: FeedPosition) -> str:
    """The opaque ``cursor`` of a position."""
    fields: list[object] = [position.seq, position.doc_id]
    extra = _extra(position)
    if extra:  # a plain position keeps the first form: cursors stay as they were
        fields.append(extra)
    payload = orjson.dumps(fields)
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def _extra(position: FeedPosition) -> dict[str, object]:
    """What a position carries beyond its place in the feed, by name."""
    extra: dict[str, object] = {}
    if position.floor is not None:
        extra["floor"] = list(position.floor)
    if position.lsn is not None:
        extra["lsn"] = position.lsn
    return extra


def decode_cursor(text: str) -> FeedPosition:
    """The position a ``cursor`` names; ParameterError (``since``) for anything else."""
    payload = text[len(_CURSOR_PREFIX) :]
    try:
        value = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        value = None
    if (
        isinstance(value, list)
        and len(value) in (2, 3)
        and type(value[0]) is int
        and -1 <= value[0] <= _MAX_SEQ
        and (value[1] is None or (isinstance(value[1], str) and "\x00" not in value[1]))
    ):
        extra = value[2] if len(value) == 3 else {}
        if isinstance(extra, dict):
            lsn, floor = extra.get("lsn"), extra.get("floor")
            lsn_ok = lsn is None or (type(lsn) is int and 0 <= lsn <= _MAX_LSN)
            floor_ok = floor is None or (
                isinstance(floor, list)
                and len(floor) == 2
                and type(floor[0]) is int
                and isinstance(floor[1], str)
            )
            if lsn_ok and floor_ok:
                return FeedPosition(value[0], value[1], tuple(floor) if floor else None, lsn=lsn)
    raise ParameterError(
        "since", "since inválido: use o cursor devolvido pela resposta anterior, ou uma data"
    )


def _wait(raw: str | None) -> float:
    if raw is None:
        return 0.0
    text = raw.strip().lstrip("0") or "0"
    if not ASCII_DIGITS.fullmatch(text) or len(text) > 2 or int(text) > MAX_WAIT_S:
        raise ParameterError("wait", f"wait deve ser um inteiro entre 0 e {MAX_WAIT_S}: {raw!r}")
    return float(text)
