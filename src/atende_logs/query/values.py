"""What each search parameter accepts, as the JSON Schema the OpenAPI document gives it.

Each schema admits exactly the values the parser takes for that parameter on its own, so a
client (or Schemathesis) can tell a good value from a bad one before sending it; tests hold
each pattern to its parser (tests/query/test_values.py), and the two places where a schema
admits a little less say why. What depends on something else is
said in the parameter's description instead, as OpenAPI cannot say it: the CSV options with
another format, ``start_at`` after ``end_at``, a dialer token in neither place, an ``after``
the server did not hand out or that names no item of the caller's (docs/api.md, "The
OpenAPI document").

The patterns use only what ECMA-262 and Python's ``re`` read alike: character classes
spelled out (no ``\\s`` or ``\\d``), and one ``^`` and one ``$`` around the whole (a JSON
Schema pattern is searched for, not matched).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable
from typing import Any

from atende_logs import formats, normalize
from atende_logs.kinds import Kind
from atende_logs.query.output import FORMATS
from atende_logs.query.times import MAX_MS, MIN_EPOCH_MS

BLANKS = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""The characters ``str.strip()`` removes, as a character class's contents."""
_WS = f"[{BLANKS}]*"
_TEXT = r"[^\x00]"
"""Any character but NUL, which no parameter may hold."""


BLANK = {"type": "string", "pattern": f"^{_WS}$"}
"""An empty or blank value: not sent, for every parameter but ``delimiter``."""


def time_zones() -> list[str]:
    """The ``tz`` values: every IANA name this machine's zone database has."""
    return sorted(zoneinfo.available_timezones())


def _blank_or(value: str) -> str:
    """A pattern for ``value`` with blanks around it, or for blanks alone: an empty or blank
    parameter counts as not sent (``query.parse``)."""
    return f"^{_WS}(?:{value})?{_WS}$"


def _either_case(word: str) -> str:
    """``word`` in any mix of cases: the parser lowers the value before comparing."""
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word)


def _words(words: Iterable[str]) -> str:
    return _blank_or("|".join(_either_case(word) for word in words))


def _between(low: str, high: str) -> str:
    """Digit strings as long as ``low`` and ``high`` (which have one length) from ``low`` to
    ``high``, leading zeros included."""
    width, rest = len(low), len(low) - 1
    if low == high:
        return low
    if low == "0" * width and high == "9" * width:
        return f"[0-9]{{{width}}}" if width > 1 else "[0-9]"
    if width == 1:
        return f"[{low}-{high}]"
    if low[0] == high[0]:
        return low[0] + _group(_between(low[1:], high[1:]))
    parts, tail = [], []
    first, last = int(low[0]), int(high[0])
    if low[1:] != "0" * rest:
        parts.append(low[0] + _group(_between(low[1:], "9" * rest)))
        first += 1
    if high[1:] != "9" * rest:
        tail.append(high[0] + _group(_between("0" * rest, high[1:])))
        last -= 1
    if first <= last:
        digit = str(first) if first == last else f"[{first}-{last}]"
        parts.append(digit + (f"[0-9]{{{rest}}}" if rest > 1 else "[0-9]"))
    return "|".join(parts + tail)


def _group(pattern: str) -> str:
    return f"(?:{pattern})" if "|" in pattern else pattern


def _numbers(low: int, high: int, widths: range) -> str:
    """Digit strings of the ``widths`` given, leading zeros included, whose value is from
    ``low`` to ``high``."""
    parts = []
    for width in widths:
        top = min(high, 10**width - 1)
        if low <= top:
            parts.append(_between(str(low).zfill(width), str(top).zfill(width)))
    return "|".join(parts)


# --- Times: start_at and end_at (``query.times.parse_instant``) ----------------------------

_DAYS = {"01": 31, "02": 28, "03": 31, "04": 30, "05": 31, "06": 30}
_DAYS |= {"07": 31, "08": 31, "09": 30, "10": 31, "11": 30, "12": 31}
_LEAP_YEARS = (
    "19(?:7[26]|8[048]|9[26])"  # 1972 to 1996
    "|[2-9][0-9](?:0[48]|[2468][048]|[13579][26])"  # 2004 to 9996, but the centuries
    "|(?:[2468][048]|[3579][26])00"  # the centuries divisible by 400, 2000 to 9600
)


def _month_days(sep: str, skip: tuple[str, str] | None = None) -> str:
    """The days of a year that is not leap, ``MM<sep>DD``, less ``skip``'s day."""
    by_range: dict[tuple[str, str], list[str]] = {}
    for month, last in _DAYS.items():
        first, final = "01", f"{last:02d}"
        if skip is not None and month == skip[0]:
            first, final = ("02", final) if skip[1] == "01" else (first, f"{last - 1:02d}")
        by_range.setdefault((first, final), []).append(month)
    return "|".join(
        f"{_group('|'.join(months))}{sep}{_group(_between(first, final))}"
        for (first, final), months in by_range.items()
    )


def _dates(sep: str) -> str:
    """The calendar dates from 1970-01-02 to 9999-12-30, ``YYYY<sep>MM<sep>DD``: the first
    and last days are refused in some zones (their span crosses 1970 or 9999), so the
    schema, which cannot see ``tz``, leaves them out."""
    return "|".join(
        [
            f"1970{sep}(?:{_month_days(sep, skip=('01', '01'))})",
            f"(?:{_between('1971', '9998')}){sep}(?:{_month_days(sep)})",
            f"9999{sep}(?:{_month_days(sep, skip=('12', '31'))})",
            f"(?:{_LEAP_YEARS}){sep}02{sep}29",
        ]
    )


_HOUR, _SIXTY = "(?:[01][0-9]|2[0-3])", "[0-5][0-9]"
_CLOCK = (
    f"[T ]{_HOUR}:{_SIXTY}(?::{_SIXTY}(?:[.,][0-9]{{1,9}})?)?"
    # A "+" sent unencoded arrives as a space.
    f"(?:[Zz]|[-+ ]{_HOUR}(?::?{_SIXTY})?)?"
)
# Up to 15 digits, leading zeros included; zero in any such length but eight (a date).
_EPOCH_MS = "|".join(["0{1,7}", "0{9,15}", _numbers(MIN_EPOCH_MS, MAX_MS, range(12, 16))])
_INSTANT = f"{_EPOCH_MS}|(?:{_dates('')})|(?:{_dates('-')})(?:{_CLOCK})?"
TIME = {"type": "string", "pattern": _blank_or(_INSTANT)}
REQUIRED_TIME = {"type": "string", "pattern": f"^{_WS}(?:{_INSTANT}){_WS}$"}
"""``TIME`` where the parameter must be sent: blank is missing, so not allowed."""


# --- The other common parameters (``query.parse``, ``query.cursor``, ``query.resume``) ------

SIZE = {"type": "string", "pattern": _blank_or("0*(?:[1-9][0-9]{0,2}|1000)")}
WAIT = {"type": "string", "pattern": _blank_or("0*(?:[0-9]|[1-5][0-9]|60)")}
"""A change feed's ``wait`` (``query.changes``): whole seconds, 0 to 60."""
SINCE = {
    "type": "string",
    "pattern": _blank_or(
        f"{_EPOCH_MS}|(?:{_dates('')})|(?:{_dates('-')})(?:{_CLOCK})?|c\\.{_TEXT}*"
    ),
}
"""A change feed's ``since``: a time as ``start_at`` takes it, or a cursor (``c.``) the feed
handed out (only its prefix is checked here)."""
_NOT_BLANK = f"[^{BLANKS}\\x00]"


def after(kind: Kind) -> dict[str, Any]:
    """``after``: epoch milliseconds, a page's token, or an item named by its id (or, for
    cards, by number and time). Only the first is checked here: the others are whatever a
    page handed out, or an item the caller holds."""
    forms = [
        f"{_WS}(?:[0-9]{{1,14}}|{_numbers(0, MAX_MS, range(15, 16))})?{_WS}",
        f"{_WS}t\\.{_TEXT}*",
        f"id:{_TEXT}*{_NOT_BLANK}{_TEXT}*",
    ]
    if kind.derived_id_from is not None:
        forms.append(f"card:{_TEXT}*@{_TEXT}*")
    return {"type": "string", "pattern": f"^(?:{'|'.join(forms)})$"}


# --- The output parameters (``query.output``) ------------------------------------------------

FORMAT = {"type": "string", "pattern": _words(FORMATS)}
# Only "" is not sent: a tab is a delimiter, not a blank.
DELIMITER = {"type": "string", "pattern": f"^(?:\\t|{_WS}(?:[,;]|{_either_case('tab')}){_WS})?$"}
BOM = {"type": "string", "pattern": _words(["true", "false"])}
CSV_FORMULAS = {"type": "string", "pattern": _words(formats.CSV_FORMULAS)}
INTERVAL = {"type": "string", "pattern": _words(("hour", "day"))}
"""A stats request's ``interval`` (``query.stats``)."""


def choice(names: Iterable[str]) -> dict[str, Any]:
    """One of ``names`` exactly (blanks around it aside): a stats request's ``split``."""
    return {"type": "string", "pattern": _blank_or("|".join(re.escape(n) for n in names))}


OUTPUT = {"format": FORMAT, "delimiter": DELIMITER, "bom": BOM, "csv_formulas": CSV_FORMULAS}


# --- Filters, by the key each compares (``normalize``) ---------------------------------------

TEXT = {"type": "string", "pattern": f"^{_TEXT}*$"}
_FILTERS: dict[Callable[[Any], Any], dict[str, Any]] = {
    normalize.exact: TEXT,
    normalize.fold: TEXT,
    normalize.scalar_text: TEXT,
    normalize.extension: TEXT,
    # Any text with a digit in it.
    normalize.phone: {"type": "string", "pattern": f"^(?:{_WS}|{_TEXT}*[0-9]{_TEXT}*)$"},
    normalize.integer: {"type": "string", "pattern": _blank_or("-?[0-9]{1,18}")},
    # Up to 308 digits before the separator: a float holds no more (a few 309-digit values
    # below its largest are taken too, and are left out here).
    normalize.number: {
        "type": "string",
        "pattern": _blank_or("[-+]?(?:0*[0-9]{1,308}(?:[.,][0-9]*)?|[.,][0-9]+)"),
    },
    # Exact decimals whose last significant digit is within 64 places of the separator.
    normalize.decimal_key: {
        "type": "string",
        "pattern": _blank_or(
            "[-+]?(?:[0-9]*[.,][0-9]{0,63}[1-9]0*|[0-9]*[1-9]0{0,64}(?:[.,]0*)?"
            "|0+(?:[.,]0*)?|[.,]0+)"
        ),
    },
    # Parts of at most ten digits (leading zeros aside), between dots.
    normalize.version_key: {
        "type": "string",
        "pattern": _blank_or("0*[0-9]{1,10}(?:\\.0*[0-9]{1,10})*"),
    },
}


def filter_schema(key: Callable[[Any], Any]) -> dict[str, Any]:
    """The values a filter comparing by ``key`` takes."""
    return _FILTERS[key]
