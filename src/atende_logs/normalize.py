"""The comparison keys filters work on, computed the same way at ingest and at query time.

Each function returns ``None`` for a value it cannot read, so a document with an odd field
is still stored (it just never matches that filter). Text keys are in Unicode NFC, so a
"NÃO" typed with a combining tilde equals one typed with "Ã" (docs/api.md, "Filters").
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple

_NON_DIGITS = re.compile(r"[^0-9]+")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")
"""A number as text: one decimal point or comma, no thousands separator, no exponent."""
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


def exact(value: Any) -> str | None:
    """Exact key: the text in Unicode NFC, so composed and decomposed "NÃO" are equal."""
    text = scalar_text(value)
    if text is None or text.isascii():  # O(1) in CPython: most values skip normalising
        return text
    return unicodedata.normalize("NFC", text)


def fold(value: Any) -> str | None:
    """Case-insensitive key: Unicode case folding, so "JOÃO" matches "joão", in NFC.

    Folded between NFD and NFC, as Unicode's canonical caseless match asks: folding alone
    would leave a decomposed and a composed spelling unequal.
    """
    text = scalar_text(value)
    if text is None or text.isascii():
        return None if text is None else text.casefold()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def extension(value: Any) -> str | None:
    """Extension key: a value of ASCII digits only is a number, so leading zeros go ("019",
    "19" and 19 are all "19"); any other text is compared as ``exact`` compares it."""
    text = exact(value)
    if text is not None and text.isascii() and text.isdigit():
        return text.lstrip("0") or "0"
    return text


def digits(value: Any) -> str | None:
    """The ASCII digits of a value: "+55 (63) 98486-6338" gives "5563984866338"."""
    text = scalar_text(value)
    if text is None:
        return None
    only = _NON_DIGITS.sub("", text)
    return only or None


PhoneSort = Literal["national", "non_geographic", "foreign", "other"]

_NON_GEOGRAPHIC = re.compile(r"0?((?:[3589]00|303)[0-9]{6,7})")
"""0300, 0303, 0500, 0800 and 0900 numbers, with or without their leading zero (from
abroad they are dialled +55 800 …)."""
_NON_GEOGRAPHIC_MARKS = frozenset({"00", "03"})
"""The two digits after the first of every such number ("300", "303", "800"…; after the
0 when written with it): a cheap test before the pattern."""
_MIN_FOREIGN_DIGITS = 8


class PhoneNumber(NamedTuple):
    """A phone number's canonical key, and what sort of number it was read as."""

    key: str
    sort: PhoneSort


def phone_number(text: str) -> PhoneNumber:
    """The canonical key of a phone number written any way. Never raises.

    - Brazilian numbers (``national``): area code and subscriber number, 10 or 11 digits,
      without the country code (55, +55, 0055), the trunk 0 or a trunk 0 and carrier code
      ("0 15 11 …"); the ninth digit is kept as written.
    - 0300/0303/0500/0800/0900 numbers (``non_geographic``): with their leading 0,
      "08008870608", however written ("+55 800 887 0608", "5508008870608").
    - Numbers written with "+" or "00" and another country code (``foreign``): country code
      and number, at least 8 digits.
    - Anything else (``other``): its digits as written.
    """
    # Most stored numbers are digits only: they skip the substitution.
    found = text if text.isascii() and text.isdigit() else _NON_DIGITS.sub("", text)
    marked = found.startswith("00") or text.lstrip().startswith("+")
    national = found
    if marked:
        number = found.removeprefix("00")
        if not number.startswith("55"):
            sort: PhoneSort = "foreign" if len(number) >= _MIN_FOREIGN_DIGITS else "other"
            return PhoneNumber(number if sort == "foreign" else found, sort)
        national = number[2:]
    elif len(found) in (12, 13) and found.startswith("55"):
        national = found[2:]  # the country code without "+"
    if national[1:3] in _NON_GEOGRAPHIC_MARKS or national[2:4] in _NON_GEOGRAPHIC_MARKS:
        non_geographic = _NON_GEOGRAPHIC.fullmatch(national)
        if non_geographic is not None:
            return PhoneNumber("0" + non_geographic.group(1), "non_geographic")
    if national.startswith("0") and len(national) in (11, 12):
        national = national[1:]  # trunk prefix: "0 11 98765-4321"
    elif national.startswith("0") and len(national) in (13, 14):
        national = national[3:]  # trunk prefix and carrier code: "0 15 11 98765-4321"
    if len(national) in (10, 11) and "0" not in national[:2]:
        return PhoneNumber(national, "national")
    return PhoneNumber(found, "other")


def phone(value: Any) -> str | None:
    """Phone key: ``phone_number``'s, so "(63) 98486-6338", "063 98486 6338" and
    "+55 63 98486-6338" are all "63984866338"; None for a value without digits."""
    text = scalar_text(value)
    if text is None or not ASCII_DIGITS.search(text):
        return None
    return phone_number(text).key


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


def _numeric_text(value: str) -> str | None:
    """Text as a number, with a decimal point for a decimal comma ("1,35" is "1.35"); None
    for anything ``_DECIMAL_TEXT`` refuses ("1.234,56", "1e2", "1_000", "NaN")."""
    text = value.strip()
    return text.replace(",", ".") if _DECIMAL_TEXT.fullmatch(text) else None


def decimal_key(value: Any) -> str | None:
    """Exact decimal key: 1.35, "1.35", "1,35" and "1.350" all give "1.35".

    Text takes one decimal point or comma and no exponent; a JSON number is read as the
    number it is (a float by its shortest repr, so 1.35 is 1.35).
    """
    if isinstance(value, str):
        text = _numeric_text(value)
        if text is None:
            return None
        number = Decimal(text)
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            number = Decimal(value) if isinstance(value, int | Decimal) else Decimal(repr(value))
        except InvalidOperation:
            return None
    else:
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
    """Finite number from 29, 29.5, "29.5" or "29,5"; None for anything else (text with an
    exponent or a thousands separator included)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = _numeric_text(value)
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
