"""The ``after`` parameter: where the next page starts.

A page's ``after`` is the last item's epoch milliseconds as a JSON number whenever that
alone continues exactly (no further item shares the millisecond), as the spec shows.
Otherwise it is an opaque string token carrying the tie-break too: ``t.`` followed by the
base64url of ``[time_ms, doc_id]``. Clients must treat it as opaque; we keep the right to
change what is inside.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from atende_logs.errors import ParameterError
from atende_logs.models import Cursor
from atende_logs.normalize import ASCII_DIGITS
from atende_logs.query.times import MAX_MS

_TOKEN_PREFIX = "t."


def encode(time_ms: int, doc_id: str) -> str:
    """The token for "after the item (time_ms, doc_id)"."""
    payload = base64.urlsafe_b64encode(orjson.dumps([time_ms, doc_id])).rstrip(b"=")
    return _TOKEN_PREFIX + payload.decode()


def parse_after(raw: str) -> Cursor:
    """Read an ``after`` value: a number of milliseconds or a token from a previous page."""
    text = raw.strip()
    if ASCII_DIGITS.fullmatch(text):
        if len(text) > 15 or int(text) > MAX_MS:
            raise ParameterError("after", f"after fora do intervalo: {raw!r}")
        return Cursor(int(text))
    if text.startswith(_TOKEN_PREFIX):
        cursor = _decode(text[len(_TOKEN_PREFIX) :])
        if cursor is not None:
            return cursor
    raise ParameterError(
        "after", "after inválido: use o valor de after devolvido pela página anterior"
    )


def _decode(payload: str) -> Cursor | None:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and type(value[0]) is int
        and 0 <= value[0] <= MAX_MS
        and isinstance(value[1], str)
        and "\x00" not in value[1]
    ):
        return Cursor(value[0], value[1])
    return None
