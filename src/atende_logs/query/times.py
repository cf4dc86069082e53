"""The ``start_at`` / ``end_at`` parameters: four spellings of an instant, one meaning.

Accepted: epoch milliseconds (``1580164093000``); an ISO-8601 date (``2020-01-27``); a
datetime with an offset or ``Z``; a datetime without one. Dates and offset-less datetimes
are read in the request's zone, daylight-saving rules included.

Bounds are inclusive, and a value covers its own precision: as ``end_at`` a date covers the
whole day, ``...T19:28`` the whole minute and ``...T19:28:13`` the whole second, which is
what a person typing the value means.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from atende_logs.errors import ParameterError
from atende_logs.normalize import ASCII_DIGITS, epoch_ms

MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z

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
    """Epoch milliseconds of a bound; as an end bound, the last millisecond it covers.

    Raises ParameterError naming ``param`` when the value is none of the accepted forms.
    """
    text = raw.strip()
    if ASCII_DIGITS.fullmatch(text):
        value = int(text) if len(text) <= 15 else MAX_MS + 1
        if value > MAX_MS:
            raise ParameterError(param, f"{param} fora do intervalo: {raw!r}")
        return value
    match = _INSTANT.fullmatch(text)
    if match is None:
        raise ParameterError(
            param,
            f"{param} inválido: {raw!r}; use uma data (2020-01-27), data e hora "
            "(2020-01-27T19:28:13-03:00) ou milissegundos desde 1970",
        )
    try:
        start, span = _moment(match, tz)
        value = epoch_ms(start + span) - 1 if end and span else epoch_ms(start)
    except (ValueError, OverflowError) as exc:
        raise ParameterError(param, f"{param} não é uma data válida: {raw!r}") from exc
    if not 0 <= value <= MAX_MS:
        raise ParameterError(param, f"{param} fora do intervalo (1970 a 9999): {raw!r}")
    return value


def _moment(match: re.Match[str], tz: ZoneInfo) -> tuple[datetime, timedelta | None]:
    """The instant a match names, and how long a span it covers (None: exact)."""
    day = date.fromisoformat(match["date"])
    if match["hour"] is None:
        start = datetime(day.year, day.month, day.day, tzinfo=tz)
        following = day + timedelta(days=1)
        # A day is not always 24 hours where daylight saving applies: measure it.
        next_start = datetime(following.year, following.month, following.day, tzinfo=tz)
        return start, next_start - start
    fraction = match["fraction"]
    micro = int((fraction or "0").ljust(6, "0")[:6])
    moment = datetime(
        day.year,
        day.month,
        day.day,
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"] or 0),
        micro,
        tzinfo=_offset(match["offset"]) or tz,
    )
    if match["second"] is None:
        return moment, timedelta(minutes=1)
    if fraction is None:
        return moment, timedelta(seconds=1)
    if len(fraction) < 3:
        return moment, timedelta(milliseconds=10 ** (3 - len(fraction)))
    return moment, None


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
