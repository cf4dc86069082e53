"""``start_at`` / ``end_at`` across clock changes, past the millisecond, as compact dates and
as epoch numbers, and the range they make (issue 21, points 1b and 1c).

Expectations are computed here from the zone's offsets at instants (zoneinfo's data, not
its fold rules) and with exact fractions, never read back from the parser.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from atende_logs.errors import ParameterError
from atende_logs.kinds import CDRS
from atende_logs.query.parse import parse_search
from atende_logs.query.times import MAX_MS, MIN_EPOCH_MS, parse_instant

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAIVE_EPOCH = datetime(1970, 1, 1)
MS = timedelta(milliseconds=1)
SP = ZoneInfo("America/Sao_Paulo")

CHANGING_ZONES = {
    "America/Sao_Paulo": (1985, 2020),  # historical DST, changed at midnight
    "Europe/Lisbon": (2000, 2038),
    "America/New_York": (2000, 2038),
    "Australia/Lord_Howe": (2000, 2038),  # a 30-minute change
    "America/Havana": (2000, 2038),  # midnight skipped in spring, repeated in autumn
    "America/Santiago": (2000, 2038),  # changes at 24:00
    "Antarctica/Troll": (2005, 2038),  # a 2-hour change: days of 22 and 26 hours
    "Pacific/Apia": (2010, 2022),  # 2011-12-30 never happened there
}


def offset_at(tz: ZoneInfo, ms: int) -> timedelta:
    """The offset in force at an instant: zoneinfo's data, no wall-time rule involved."""
    offset = (EPOCH + ms * MS).astimezone(tz).utcoffset()
    assert offset is not None
    return offset


@functools.cache
def changes(name: str) -> list[tuple[int, timedelta, timedelta]]:
    """(instant in ms, offset before, offset after) of each change of the zone's offset in
    its years of CHANGING_ZONES, found by bisection on the offsets at instants."""
    tz = ZoneInfo(name)
    first, last = CHANGING_ZONES[name]
    step = 6 * 3_600_000
    low = (datetime(first, 1, 1, tzinfo=UTC) - EPOCH) // MS
    end = (datetime(last, 1, 1, tzinfo=UTC) - EPOCH) // MS
    found = []
    before = offset_at(tz, low)
    while low < end:
        high = low + step
        after = offset_at(tz, high)
        if after != before:
            left, right = low, high
            while right - left > 1:
                middle = (left + right) // 2
                left, right = (middle, right) if offset_at(tz, middle) == before else (left, middle)
            found.append((right, before, after))
            before = after
        low = high
    return found


def test_the_zones_change_as_expected() -> None:
    """The bisection finds the changes it is meant to (Apia's skipped day among them)."""
    apia = [(at, after - before) for at, before, after in changes("Pacific/Apia")]
    skip = (datetime(2011, 12, 30, 10, tzinfo=UTC) - EPOCH) // MS
    assert (skip, timedelta(days=1)) in apia
    lord_howe = {after - before for _, before, after in changes("Australia/Lord_Howe")}
    assert lord_howe == {timedelta(minutes=30), timedelta(minutes=-30)}
    assert all(len(changes(name)) >= 2 for name in CHANGING_ZONES)


Precision = int
"""-2: a date, -1: to the minute, 0: to the second, 1 to 9: fraction digits."""


@st.composite
def near_a_change(draw: st.DrawFn) -> tuple[str, datetime, Precision, str]:
    """A zone, a wall time within three hours of one of its changes (read at the offset
    before or after it, so gaps and overlaps come up), a precision and extra fraction
    digits past the millisecond."""
    name = draw(st.sampled_from(sorted(CHANGING_ZONES)))
    at, before, after = draw(st.sampled_from(changes(name)))
    around = draw(st.integers(-3 * 3_600_000, 3 * 3_600_000))
    offset = draw(st.sampled_from([before, after]))
    wall = NAIVE_EPOCH + (at + around) * MS + offset
    precision = draw(st.integers(-2, 9))
    extra = draw(st.text("0123456789", min_size=6, max_size=6))
    return name, wall, precision, extra


def written(wall: datetime, precision: Precision, extra: str) -> tuple[str, datetime, Fraction]:
    """The text of ``wall`` at ``precision``; the wall time it names, in whole seconds, and
    the fraction of a second after that, exact."""
    if precision == -2:
        return (
            wall.date().isoformat(),
            datetime.combine(wall.date(), datetime.min.time()),
            Fraction(0),
        )
    if precision == -1:
        return wall.strftime("%Y-%m-%dT%H:%M"), wall.replace(second=0, microsecond=0), Fraction(0)
    text, whole = wall.strftime("%Y-%m-%dT%H:%M:%S"), wall.replace(microsecond=0)
    if precision == 0:
        return text, whole, Fraction(0)
    digits = (f"{wall.microsecond // 1000:03}" + extra)[:precision]
    return f"{text}.{digits}", whole, Fraction(int(digits), 10**precision)


def unit_ms(precision: Precision) -> Fraction:
    """The span a sub-day precision covers, in milliseconds."""
    return Fraction(60_000 if precision == -1 else 1000, 10 ** max(precision, 0))


def resolved_ms(name: str, wall: datetime) -> tuple[int, timedelta]:
    """The instant the documented rule gives a wall time near one of the zone's changes, and
    the offset it is read at: the earliest instant the clocks show it; or, when they skip
    it, the offset in force before the skip."""
    tz, shown = ZoneInfo(name), (wall - NAIVE_EPOCH) // MS
    for at, before, after in changes(name):
        if at + before // MS <= shown < at + after // MS:  # skipped: in the gap
            return shown - before // MS, before
    offsets = {offset for _, before, after in changes(name) for offset in (before, after)}
    return min(
        (shown - offset // MS, offset)
        for offset in offsets
        if offset_at(tz, shown - offset // MS) == offset
    )


def local(tz: ZoneInfo | timezone, ms: int) -> datetime:
    return (EPOCH + ms * MS).astimezone(tz).replace(tzinfo=None)


def bounds(raw: str, tz: ZoneInfo) -> tuple[int, int]:
    return (
        parse_instant(raw, param="start_at", end=False, tz=tz),
        parse_instant(raw, param="end_at", end=True, tz=tz),
    )


@settings(max_examples=400)
@given(case=near_a_change())
@example(case=("America/Sao_Paulo", datetime(2019, 2, 16, 23, 59), -1, "000000"))
@example(case=("America/Sao_Paulo", datetime(2019, 2, 16, 23, 59, 59, 999000), 3, "000000"))
@example(case=("Europe/Lisbon", datetime(2020, 10, 25, 1, 59), -1, "000000"))
@example(case=("America/New_York", datetime(2024, 3, 10, 2, 30), -1, "000000"))
@example(case=("Australia/Lord_Howe", datetime(2020, 4, 5, 1, 45), 0, "000000"))
@example(case=("America/Sao_Paulo", datetime(2018, 11, 4), -2, "000000"))
@example(case=("America/Sao_Paulo", datetime(2019, 2, 16), -2, "000000"))
@example(case=("Pacific/Apia", datetime(2011, 12, 30), -2, "000000"))
@example(case=("America/Havana", datetime(2024, 3, 10), -2, "000000"))
def test_a_bound_covers_its_precision_on_the_instant(
    case: tuple[str, datetime, Precision, str],
) -> None:
    name, wall, precision, extra = case
    tz = ZoneInfo(name)
    raw, whole, fraction = written(wall, precision, extra)
    start, end = bounds(raw, tz)
    if precision == -2:
        day = whole.date()
        # The day's first instant: the first the clocks show on that date (or later, when
        # they skip the date); its end is the next day's first instant, less 1 ms.
        assert local(tz, start).date() >= day > local(tz, start - 1).date()
        following = (day + timedelta(days=1)).isoformat()
        assert end + 1 == parse_instant(following, param="start_at", end=False, tz=tz)
        assert local(tz, end).date() <= day and end + 1 >= start
        return
    at, offset = resolved_ms(name, whole)
    exact = at + fraction * 1000
    assert start == math.ceil(exact)
    unit = unit_ms(precision)
    if precision < 3:
        # Exactly the unit's length, laid on the instant: read at the offset the start was
        # read at, the last millisecond still shows the written minute, second or fraction.
        assert end - start + 1 == unit
        shown = local(timezone(offset), end)
        assert raw == written(shown, precision, "")[0]
    else:
        assert end == math.floor(exact)  # past the millisecond, an end is exact


def test_the_issue_reproductions() -> None:
    """end_at=2019-02-16T23:59 in Sao Paulo ends at 23:59:59.999-02:00, an hour before where
    a wall-clock minute would have ended; Lisbon's likewise."""
    end = parse_instant("2019-02-16T23:59", param="end_at", end=True, tz=SP)
    assert local(timezone(timedelta(hours=-2)), end) == datetime(2019, 2, 16, 23, 59, 59, 999000)
    lisbon = parse_instant(
        "2020-10-25T01:59", param="end_at", end=True, tz=ZoneInfo("Europe/Lisbon")
    )
    assert local(timezone(timedelta(hours=1)), lisbon) == datetime(2020, 10, 25, 1, 59, 59, 999000)


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (("America/Sao_Paulo", "2018-11-04"), 23),  # midnight skipped: the day began at 01:00
        (("America/Sao_Paulo", "2019-02-16"), 25),
        (("Australia/Lord_Howe", "2020-04-05"), 24.5),
        (("Australia/Lord_Howe", "2020-10-04"), 23.5),
        (("America/Havana", "2024-03-10"), 23),
        (("America/Havana", "2024-11-03"), 25),
        (("Antarctica/Troll", "2024-03-31"), 22),
        (("Pacific/Apia", "2011-12-30"), 0),
    ],
)
def test_a_day_lasts_what_it_lasted_there(day: tuple[str, str], hours: float) -> None:
    start, end = bounds(day[1], ZoneInfo(day[0]))
    assert end + 1 - start == hours * 3_600_000


# --- past the millisecond ---------------------------------------------------------------------


@settings(max_examples=300)
@given(
    second=st.integers(MIN_EPOCH_MS // 1000, MAX_MS // 1000 - 86_400),
    digits=st.text("0123456789", min_size=1, max_size=9),
    offset=st.integers(-14 * 60, 14 * 60),
)
@example(second=1_580_153_303, digits="2441", offset=0)  # the issue's ...23.2441Z
@example(second=1_580_153_303, digits="9999", offset=0)
def test_a_start_rounds_up_and_an_end_rounds_down(second: int, digits: str, offset: int) -> None:
    """For every stored millisecond m: m >= start_at exactly when m is at or after the
    written instant, and m <= end_at exactly when m is before the end of its precision
    (which, past the millisecond, is: at or before the written instant)."""
    zone = timezone(timedelta(minutes=offset))
    wall = (EPOCH + timedelta(seconds=second)).astimezone(zone)
    sign = "-" if offset < 0 else "+"
    text = f"{wall:%Y-%m-%dT%H:%M:%S}.{digits}{sign}{abs(offset) // 60:02}:{abs(offset) % 60:02}"
    start, end = bounds(text, SP)
    exact = Fraction(second * 1000) + Fraction(int(digits) * 1000, 10 ** len(digits))
    covered_until = exact + Fraction(1000, 10 ** len(digits))
    for m in range(math.floor(exact) - 2, math.ceil(covered_until) + 3):
        assert (m >= start) == (m >= exact)
        if len(digits) >= 3:
            assert (m <= end) == (m <= exact)
        else:
            assert (m <= end) == (m < covered_until)


# --- numbers: compact dates and epoch milliseconds --------------------------------------------


@given(
    day=st.dates(date(1970, 1, 2), date(9999, 12, 30)), name=st.sampled_from(sorted(CHANGING_ZONES))
)
@example(day=date(2020, 1, 27), name="America/Sao_Paulo")
def test_eight_digits_are_a_date(day: date, name: str) -> None:
    tz = ZoneInfo(name)
    assert bounds(day.strftime("%Y%m%d"), tz) == bounds(day.isoformat(), tz)


@given(raw=st.text("0123456789", min_size=8, max_size=8))
def test_eight_digits_that_are_no_date_are_refused(raw: str) -> None:
    try:
        date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        with pytest.raises(ParameterError) as caught:
            parse_instant(raw, param="start_at", end=False, tz=SP)
        assert "AAAAMMDD" in caught.value.message and caught.value.parameter == "start_at"


@given(value=st.one_of(st.integers(0, 10**15), st.integers(MIN_EPOCH_MS - 10, MIN_EPOCH_MS + 10)))
@example(value=0)
@example(value=1_580_164_093)  # epoch seconds
@example(value=MAX_MS)
def test_other_numbers_are_epoch_milliseconds_from_2000(value: int) -> None:
    raw = str(value)
    if len(raw) == 8:
        return  # a compact date, above
    if value == 0 or MIN_EPOCH_MS <= value <= MAX_MS:
        assert bounds(raw, SP) == (value, value)
        return
    with pytest.raises(ParameterError) as caught:
        parse_instant(raw, param="end_at", end=True, tz=SP)
    assert caught.value.parameter == "end_at"
    assert ("parecem segundos" in caught.value.message) == (len(raw) == 10)


# --- the range ---------------------------------------------------------------------------------


def search(*pairs: tuple[str, str]) -> None:
    parse_search(CDRS, pairs, customer_id=1, default_tz="America/Sao_Paulo")


@pytest.mark.parametrize(
    ("start_at", "end_at"),
    [
        ("2020-01-27T12:00", "2020-01-27"),  # later than the date, inside the day it covers
        ("2020-01-27T23:59:59.999", "2020-01-27"),  # the day's last millisecond
        ("2020-01-27T19:28:13.9999Z", "2020-01-27T19:28:14Z"),  # rounds up onto the end
        ("2020-01-27T19:28", "2020-01-27T19:28:00.000"),
        ("1580164093000", "2020-01-27T19:28:13-03:00"),
    ],
)
def test_a_range_that_holds_a_millisecond_is_valid(start_at: str, end_at: str) -> None:
    search(("start_at", start_at), ("end_at", end_at))


@pytest.mark.parametrize(
    ("start_at", "end_at"),
    [
        ("2020-01-28", "2020-01-27"),
        ("2020-01-28T00:00", "2020-01-27"),  # one millisecond past the day
        ("2020-01-27T23:59:59.9991", "2020-01-27"),  # rounds up past it
        ("2020-01-27T19:28:13.0005Z", "2020-01-27T19:28:13.0009Z"),  # no millisecond between
        ("1580164093001", "1580164093000"),
    ],
)
def test_an_empty_range_is_invalid(start_at: str, end_at: str) -> None:
    with pytest.raises(ParameterError) as caught:
        search(("start_at", start_at), ("end_at", end_at))
    assert (caught.value.parameter, caught.value.code) == ("start_at", "invalid_range")


@settings(max_examples=200)
@given(case=near_a_change(), other=near_a_change(), forward=st.integers(-120_000, 120_000))
def test_a_range_is_invalid_exactly_when_empty(
    case: tuple[str, datetime, Precision, str],
    other: tuple[str, datetime, Precision, str],
    forward: int,
) -> None:
    """Wherever the two bounds lie, ``invalid_range`` exactly when the first millisecond
    ``start_at`` covers is after the last one ``end_at`` covers."""
    name, wall, precision, extra = case
    start_raw = written(wall, precision, extra)[0]
    end_raw = written(wall + forward * MS, other[2], other[3])[0]
    start = parse_instant(start_raw, param="start_at", end=False, tz=ZoneInfo(name))
    end = parse_instant(end_raw, param="end_at", end=True, tz=ZoneInfo(name))
    pairs = (("tz", name), ("start_at", start_raw), ("end_at", end_raw))
    try:
        parse_search(CDRS, pairs, customer_id=1, default_tz="UTC")
    except ParameterError as exc:
        assert exc.code == "invalid_range" and start > end
    else:
        assert start <= end
