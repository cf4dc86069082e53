"""The ``start_at`` / ``end_at`` parameters: the spellings of an instant, one meaning.

Accepted: epoch milliseconds (``1580164093000``, from 2000 on, or ``0``); a date
(``2020-01-27``, or ``20200127``); a datetime with an offset or ``Z``; a datetime without
one. Dates and offset-less datetimes are read in the request's zone, daylight-saving rules
included.

A value names a span as long as its precision: a date the whole day, ``...T19:28`` the
whole minute, ``...T19:28:13.5`` a tenth of a second. A start bound is the first
millisecond of that span, an end bound its last, so both bounds are inclusive, which is
what a person typing the value means. The span is laid on the instant, in UTC: the clock
changing inside it does not lengthen it (docs/api.md, *Times*).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from atende_logs.errors import ParameterError
from atende_logs.normalize import ASCII_DIGITS, epoch_ms

MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MIN_EPOCH_MS = 946_684_800_000
"""2000-01-01T00:00:00Z: a smaller epoch value (but 0) is a mistake, not a moment of ours."""
_NS_PER_MS = 1_000_000
_COMPACT_DATE = 8  # YYYYMMDD, ISO 8601's basic format

_INSTANT = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,9}))?)?"
    # A "+" in an unencoded query string arrives as a space: read " 03:00" as "+03:00".
    r"(?P<offset>Z|z|[+\- ][0-9]{2}(?::?[0-9]{2})?)?)?"
)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ParameterError naming ``tz`` when unknown."""
    try:
        # OSError: a name longer than a file name can be is no zone either.
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ParameterError(
            "tz", f"fuso horário desconhecido: {name!r}; use um nome IANA como America/Manaus"
        ) from exc


def parse_instant(raw: str, *, param: str, end: bool, tz: ZoneInfo) -> int:
    """Epoch milliseconds of a bound: the first millisecond the value covers, or as an
    ``end`` bound the last one.

    Raises ParameterError naming ``param`` when the value is none of the accepted forms,
    is no real date or time, or lies outside 1970 to 9999 (epoch values: 2000 to 9999).
    """
    text = raw.strip()
    compact = len(text) == _COMPACT_DATE and ASCII_DIGITS.fullmatch(text) is not None
    if compact:
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    elif ASCII_DIGITS.fullmatch(text):
        return _epoch(text, raw, param)
    match = _INSTANT.fullmatch(text)
    if match is None:
        raise ParameterError(
            param,
            f"{param} inválido: {raw!r}; use uma data (2020-01-27), data e hora "
            "(2020-01-27T19:28:13-03:00) ou milissegundos desde 1970",
        )
    try:
        start_ns, span_ns = _span(match, tz)
    except (ValueError, OverflowError) as exc:
        hint = "; oito dígitos são lidos como uma data AAAAMMDD" if compact else ""
        raise ParameterError(param, f"{param} não é uma data válida: {raw!r}{hint}") from exc
    # The milliseconds inside [start, start + span): a start rounds up, an end rounds down.
    value = _ceil_ms(start_ns + span_ns) - 1 if end else _ceil_ms(start_ns)
    if not 0 <= value <= MAX_MS:
        raise ParameterError(param, f"{param} fora do intervalo (1970 a 9999): {raw!r}")
    return value


def _epoch(text: str, raw: str, param: str) -> int:
    value = int(text) if len(text) <= 15 else MAX_MS + 1
    if value > MAX_MS:
        raise ParameterError(param, f"{param} fora do intervalo: {raw!r}")
    if 0 < value < MIN_EPOCH_MS:
        # Ten digits is what epoch seconds look like today (until 2286).
        seconds = len(str(value)) == 10
        hint = "; parecem segundos: multiplique por 1000" if seconds else ""
        raise ParameterError(
            param,
            f"{param} em milissegundos desde 1970 deve ser 0 ou a partir de 2000-01-01 "
            f"({MIN_EPOCH_MS}): {raw!r}{hint}",
        )
    return value


def _ceil_ms(ns: int) -> int:
    return -(-ns // _NS_PER_MS)


def _span(match: re.Match[str], tz: ZoneInfo) -> tuple[int, int]:
    """Epoch nanoseconds of the instant a match names, and the length of its span.

    A wall time read in ``tz`` takes the offset in force before a change: of a time the
    clocks repeat, the first occurrence; a time they skip lands as far past the jump as it
    is written past its start (PEP 495's fold=0, RFC 5545's rule).
    """
    day = date.fromisoformat(match["date"])
    if match["hour"] is None:
        start = epoch_ms(datetime(day.year, day.month, day.day, tzinfo=tz))
        following = day + timedelta(days=1)
        # A day is not always 24 hours where the clocks change: it ends where the next
        # begins (a skipped midnight resolves to the jump, where that day begins).
        end = epoch_ms(datetime(following.year, following.month, following.day, tzinfo=tz))
        return start * _NS_PER_MS, (end - start) * _NS_PER_MS
    moment = datetime(
        day.year,
        day.month,
        day.day,
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"] or 0),
        tzinfo=_offset(match["offset"]) or tz,
    )
    start_ns = epoch_ms(moment) * _NS_PER_MS
    if match["second"] is None:
        return start_ns, 60 * 10**9
    fraction = match["fraction"] or ""
    return start_ns + int(fraction.ljust(9, "0")), 10 ** (9 - len(fraction))


def _offset(text: str | None) -> timezone | None:
    if text is None:
        return None
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
