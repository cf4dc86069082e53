"""The comparison keys filters work on, computed the same way at ingest and at query time.

Each function returns ``None`` for a value it cannot read, so a document with an odd field
is still stored (it just never matches that filter).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

_NON_DIGITS = re.compile(r"[^0-9]+")
_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_VERSION_PART_WIDTH = 10
_MAX_DECIMAL_EXPONENT = 64
_INTEGER = re.compile(r"-?[0-9]{1,18}")
ASCII_DIGITS = re.compile(r"[0-9]+")
"""Plain ASCII digits: str.isdigit() also accepts "²" and "١", which int() then refuses."""


def scalar_text(value: Any) -> str | None:
    """A JSON scalar as the text an exact filter compares: "19" and 19 are both "19"."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def fold(value: Any) -> str | None:
    """Case-insensitive key: Unicode case folding, so "JOÃO" matches "joão"."""
    text = scalar_text(value)
    return None if text is None else text.casefold()


def digits(value: Any) -> str | None:
    """Phone key: only the digits, so "+55 (63) 98486-6338" matches "5563984866338"."""
    text = scalar_text(value)
    if text is None:
        return None
    only = _NON_DIGITS.sub("", text)
    return only or None


def derived_card_id(dialer_id: int | None, number: Any, time_ms: int) -> str:
    """The id of a card stored without one, from what makes it unique: its dialer, its
    number (by digits) and its time. Ingest stores cards under it, and ``after=card:``
    (a client resuming after such a card) finds them by it, so both compute it here."""
    key = digits(number) or scalar_text(number)
    seed = f"{dialer_id}|{key}|{time_ms}".encode()
    return "n:" + hashlib.sha256(seed).hexdigest()[:32]


def version_key(value: Any) -> str | None:
    """Version key that sorts part by part as numbers: 1.14.111.1559 >= 1.9.

    Each part is zero-padded to a fixed width and trailing zero parts are dropped, so
    plain text comparison of two keys orders the versions ("1.9" == "1.9.0").
    """
    text = scalar_text(value)
    if text is None:
        return None
    match = _VERSION.search(text)
    if match is None:
        return None
    # Leading zeros go first and the width is checked on the text: int() of a run of more
    # than 4,300 digits raises instead of answering (Python's guard against slow parsing).
    parts = [part.lstrip("0") or "0" for part in match.group().split(".")]
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    if any(len(part) > _VERSION_PART_WIDTH for part in parts):
        return None
    return ".".join(part.zfill(_VERSION_PART_WIDTH) for part in parts)


def decimal_key(value: Any) -> str | None:
    """Exact decimal key: 1.35, "1.35" and "1.350" all give "1.35"."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    if number.is_zero():
        return "0"
    # Strip trailing zeros by hand: Decimal.normalize() rounds to the context's 28 digits,
    # which would give unequal amounts equal keys.
    sign, digits_, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    kept = len(digits_)
    while digits_[kept - 1] == 0:
        kept -= 1
    exponent += len(digits_) - kept
    if not -_MAX_DECIMAL_EXPONENT <= exponent <= _MAX_DECIMAL_EXPONENT:
        return None  # no amount of money; refusing it keeps keys small
    return format(Decimal((sign, digits_[:kept], exponent)), "f")


_INTEGER_KEYS = range(-(10**18) + 1, 10**18)
"""Whole numbers of at most 18 digits, as ``_INTEGER`` reads them from text: they fit the
databases' 64-bit integers (a larger one in a document failed its whole batch)."""


def integer(value: Any) -> int | None:
    """Whole number of up to 18 digits from 60, 60.0 or "60"; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if value in _INTEGER_KEYS else None
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def number(value: Any) -> float | None:
    """Finite number from 29, 29.5 or "29.5"; None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result == result and abs(result) != float("inf") else None


def instant_ms(value: Any, zone: tzinfo) -> int:
    """Epoch milliseconds of a document's time: ISO-8601 text or epoch milliseconds.

    Text without an offset is read in ``zone``. Raises ``ValueError`` when the value is
    not a time.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("ausente")
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("não é um texto de data e hora")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValueError(f"data e hora inválida: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return epoch_ms(moment)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime, in integers (floats lose a millisecond)."""
    delta = moment - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
