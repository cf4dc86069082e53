"""Unit tests of the parsers behind the query parameters, and of the normalising keys.

No database: parse_instant (start_at / end_at), parse_after / encode (the after cursor),
parse_search (a request's parameters) and atende_logs.normalize. Expected instants are
computed here with datetime / zoneinfo, or written out from the published DST rules.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from atende_logs import normalize
from atende_logs.errors import ParameterError
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, KINDS, Kind
from atende_logs.models import Cursor, SearchQuery
from atende_logs.query.cursor import encode, parse_after
from atende_logs.query.parse import accepted_parameters, parse_search
from atende_logs.query.times import parse_instant

SP = ZoneInfo("America/Sao_Paulo")
MANAUS = ZoneInfo("America/Manaus")
MS = timedelta(milliseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - EPOCH) // MS
ZONES = ["America/Sao_Paulo", "America/Manaus", "UTC", "Pacific/Kiritimati", "Etc/GMT+12"]
ODD_TEXT = st.text(alphabet=st.sampled_from("0123456789²١٢٣۴５-:.,TZ +t"), max_size=40)


def ms(*args: int, tz: timezone | ZoneInfo = UTC) -> int:
    return (datetime(*args, tzinfo=tz) - EPOCH) // MS


def off(hours: int, minutes: int = 0) -> timezone:
    return timezone(timedelta(hours=hours, minutes=minutes))


# --- parse_instant: accepted forms ------------------------------------------------------

START_CASES = [
    ("1580164093000", SP, 1580164093000),
    ("946684800000", SP, 946684800000),  # 2000-01-01T00:00:00Z, the first epoch value
    ("0", SP, 0),
    ("20200127", SP, ms(2020, 1, 27, 3)),  # eight digits: ISO 8601's basic date
    ("20181104", SP, ms(2018, 11, 4, 3)),
    (f"  {MAX_MS} ", SP, MAX_MS),
    ("2020-01-27", SP, ms(2020, 1, 27, 3)),  # no DST in 2020: -03:00
    ("2020-01-27", MANAUS, ms(2020, 1, 27, 4)),
    ("2020-01-27T19:28:13-03:00", SP, ms(2020, 1, 27, 22, 28, 13)),
    ("2020-01-27T19:28:13Z", MANAUS, ms(2020, 1, 27, 19, 28, 13)),
    ("2020-01-27T19:28:13z", SP, ms(2020, 1, 27, 19, 28, 13)),
    ("2020-01-27T19:28:13.5Z", SP, ms(2020, 1, 27, 19, 28, 13, 500000)),
    ("2020-01-27T19:28:13,25Z", SP, ms(2020, 1, 27, 19, 28, 13, 250000)),
    # Past the millisecond, a start rounds up: .123456789 is after .123.
    ("2020-01-27T19:28:13.123456789Z", SP, ms(2020, 1, 27, 19, 28, 13, 124000)),
    ("2020-01-27T19:28:23.2441Z", SP, ms(2020, 1, 27, 19, 28, 23, 245000)),
    ("2020-01-27T19:28:23.2440Z", SP, ms(2020, 1, 27, 19, 28, 23, 244000)),
    ("2020-01-27T19:28:13+0530", SP, ms(2020, 1, 27, 19, 28, 13, tz=off(5, 30))),
    ("2020-01-27T19:28:13+05", SP, ms(2020, 1, 27, 19, 28, 13, tz=off(5))),
    ("2020-01-27T19:28:13-00:00", SP, ms(2020, 1, 27, 19, 28, 13)),
    # An unencoded "+" arrives as a space.
    ("2020-01-27T19:28:13 03:00", SP, ms(2020, 1, 27, 19, 28, 13, tz=off(3))),
    ("2020-01-27T19:28 0530", SP, ms(2020, 1, 27, 19, 28, tz=off(5, 30))),
    ("2020-01-27 19:28:13", SP, ms(2020, 1, 27, 22, 28, 13)),
    ("2020-01-27T19:28", SP, ms(2020, 1, 27, 22, 28)),
    ("2020-01-27T19:28", MANAUS, ms(2020, 1, 27, 23, 28)),
    # Offset-less times follow daylight saving: -02:00 in the summer of 2018/2019.
    ("2019-01-15T12:00", SP, ms(2019, 1, 15, 14)),
    ("2018-11-04T12:00", SP, ms(2018, 11, 4, 14)),
    ("2018-11-04", SP, ms(2018, 11, 4, 3)),  # 00:00 did not exist; the day began at 01:00
    ("2019-02-16", SP, ms(2019, 2, 16, 2)),
]

END_CASES = [
    ("1580164093000", SP, 1580164093000),
    ("2020-01-27", SP, ms(2020, 1, 28, 3) - 1),
    ("20200127", SP, ms(2020, 1, 28, 3) - 1),
    ("2020-01-27", MANAUS, ms(2020, 1, 28, 4) - 1),
    # DST began at midnight on 2018-11-04: a day of 23 hours.
    ("2018-11-04", SP, ms(2018, 11, 5, 2) - 1),
    # DST ended at midnight on 2019-02-17: 2019-02-16 had 25 hours.
    ("2019-02-16", SP, ms(2019, 2, 17, 3) - 1),
    # The minute before that change, at the offset in force (-02:00): 60 s, not an hour
    # more (issue 21). The same for Lisbon's, at 02:00 WEST.
    ("2019-02-16T23:59", SP, ms(2019, 2, 17, 1, 59, 59, 999000)),
    ("2019-02-16T23:59:59", SP, ms(2019, 2, 17, 1, 59, 59, 999000)),
    ("2019-02-16T23:59-02:00", SP, ms(2019, 2, 17, 1, 59, 59, 999000)),
    ("2019-02-16T23:59-03:00", SP, ms(2019, 2, 17, 2, 59, 59, 999000)),
    ("2020-10-25T01:59", ZoneInfo("Europe/Lisbon"), ms(2020, 10, 25, 0, 59, 59, 999000)),
    ("2020-01-27T19:28", SP, ms(2020, 1, 27, 22, 28, 59, 999000)),
    ("2020-01-27T19:28:13", SP, ms(2020, 1, 27, 22, 28, 13, 999000)),
    ("2020-01-27T19:28:13Z", SP, ms(2020, 1, 27, 19, 28, 13, 999000)),
    ("2020-01-27T19:28:13 03:00", SP, ms(2020, 1, 27, 16, 28, 13, 999000)),
    ("2020-01-27T19:28:13.5Z", SP, ms(2020, 1, 27, 19, 28, 13, 599000)),
    ("2020-01-27T19:28:13.50Z", SP, ms(2020, 1, 27, 19, 28, 13, 509000)),
    ("2020-01-27T19:28:13.500Z", SP, ms(2020, 1, 27, 19, 28, 13, 500000)),
    ("2020-01-27T19:28:13.5009Z", SP, ms(2020, 1, 27, 19, 28, 13, 500000)),
    ("2020-01-27T19:28:13.123456789Z", SP, ms(2020, 1, 27, 19, 28, 13, 123000)),
]


@pytest.mark.parametrize(("raw", "tz", "expected"), START_CASES)
def test_parse_instant_start(raw: str, tz: ZoneInfo, expected: int) -> None:
    assert parse_instant(raw, param="start_at", end=False, tz=tz) == expected


@pytest.mark.parametrize(("raw", "tz", "expected"), END_CASES)
def test_parse_instant_end_covers_its_precision(raw: str, tz: ZoneInfo, expected: int) -> None:
    assert parse_instant(raw, param="end_at", end=True, tz=tz) == expected


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ("1580164093", "parecem segundos: multiplique por 1000"),
        ("946684799999", "a partir de 2000-01-01 (946684800000)"),
        ("20201301", "oito dígitos são lidos como uma data AAAAMMDD"),
    ],
)
def test_a_mistaken_number_is_told_why(raw: str, hint: str) -> None:
    with pytest.raises(ParameterError) as caught:
        parse_instant(raw, param="end_at", end=True, tz=SP)
    assert caught.value.parameter == "end_at" and hint in caught.value.message


def test_dst_days_have_23_and_25_hours() -> None:
    def span(day: str) -> int:
        start = parse_instant(day, param="start_at", end=False, tz=SP)
        return parse_instant(day, param="end_at", end=True, tz=SP) - start + 1

    assert (span("2018-11-04"), span("2019-02-16"), span("2020-01-27")) == (
        23 * 3_600_000,
        25 * 3_600_000,
        24 * 3_600_000,
    )


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "-1",
        "1",
        "1580164093",  # epoch seconds
        "946684799999",  # the last millisecond before 2000
        "1e12",
        "20201301",  # eight digits that are no date
        "20200230",
        "00000000",
        "1580164093000.5",
        str(MAX_MS + 1),
        "9" * 16,
        "2020-13-01",
        "2020-02-30",
        "2020-1-27",
        "2020-01-27T19",
        "2020-01-27T24:00",
        "2020-01-27T19:60",
        "2020-01-27T19:28:60",
        "2020-01-27T19:28:13+24:00",
        "2020-01-27T19:28:13+03:60",
        "2020-01-27T19:28:13+03:00:00",
        "2020-01-27T19:28:13.1234567890Z",
        "2020-01-27Z",
        "2020-01-27T19:28:13 Z",
        "²",
        "١٢٣",
        "2020-01-2７",
        "٢٠٢٠-٠١-٢٧",
    ],
)
@pytest.mark.parametrize("param", ["start_at", "end_at"])
def test_parse_instant_rejects(raw: str, param: str) -> None:
    with pytest.raises(ParameterError) as caught:
        parse_instant(raw, param=param, end=param == "end_at", tz=SP)
    assert (caught.value.parameter, caught.value.code) == (param, "invalid_parameter")


@pytest.mark.parametrize(
    "raw", ["9999-12-31", "9999-12-31T23:59", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.9Z"]
)
def test_parse_instant_end_at_the_end_of_time_is_no_crash(raw: str) -> None:
    """The last day/minute/second representable: an answer or a ParameterError."""
    try:
        value = parse_instant(raw, param="end_at", end=True, tz=SP)
    except ParameterError as exc:
        assert exc.parameter == "end_at"
    else:
        assert value >= parse_instant(raw, param="start_at", end=False, tz=SP)


def instant_text(moment: datetime, precision: int, sep: str, offset: str) -> str:
    """A date (0), a datetime to the minute (1), second (2) or 1..6 fraction digits (3..8)."""
    if precision == 0:
        return moment.date().isoformat() + offset
    if precision < 3:
        return moment.isoformat(sep, ["minutes", "seconds"][precision - 1]) + offset
    return moment.isoformat(sep, "microseconds")[: 20 + precision - 2] + offset


INSTANT_LIKE = st.builds(
    instant_text,
    st.datetimes(),
    st.integers(0, 8),
    st.sampled_from("T "),
    st.sampled_from(["", "", "Z", "z", "+14:00", "-12:00", " 03:00", "-0330", "+05"]),
)


@settings(max_examples=300)
@given(
    raw=st.one_of(st.text(), ODD_TEXT, INSTANT_LIKE, st.integers().map(str)),
    end=st.booleans(),
    tz=st.sampled_from(ZONES),
)
@example(raw="9999-12-31T23:59", end=True, tz="America/Sao_Paulo")
@example(raw="0001-01-01T00:00+14:00", end=False, tz="UTC")
@example(raw="²", end=False, tz="UTC")
@example(raw="١٢٣", end=True, tz="UTC")
def test_parse_instant_fuzz_int_or_parameter_error(raw: str, end: bool, tz: str) -> None:
    try:
        value = parse_instant(raw, param="start_at", end=end, tz=ZoneInfo(tz))
    except ParameterError as exc:
        assert exc.parameter == "start_at"
    else:
        assert type(value) is int


# --- after: parse_after / encode ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1580164093000", Cursor(1580164093000)),
        (" 0 ", Cursor(0)),
        (str(MAX_MS), Cursor(MAX_MS)),
        (encode(1580164093000, "590"), Cursor(1580164093000, "590")),
        (encode(0, ""), Cursor(0, "")),
        (encode(MAX_MS, "ação/ç"), Cursor(MAX_MS, "ação/ç")),
    ],
)
def test_parse_after_accepts(raw: str, expected: Cursor) -> None:
    assert parse_after(raw) == expected


def token(value: object) -> str:
    return "t." + base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "-1",
        "1.5",
        str(MAX_MS + 1),
        "²",
        "١٢٣",
        "t.",
        "t.!!!",
        "x" + encode(1, "a"),
        token([1]),
        token([1, 2]),
        token([-1, "a"]),
        token([MAX_MS + 1, "a"]),
        token([1.5, "a"]),
        token([True, "a"]),
        token({"t": 1, "id": "a"}),
        token([1, "a", 3]),
        token("1"),
        "t." + base64.urlsafe_b64encode(b'[99999999999999999999999,"a"]').decode(),
    ],
)
def test_parse_after_rejects(raw: str) -> None:
    with pytest.raises(ParameterError) as caught:
        parse_after(raw)
    assert (caught.value.parameter, caught.value.code) == ("after", "invalid_parameter")


@given(time_ms=st.integers(0, MAX_MS), doc_id=st.text())
def test_after_round_trip(time_ms: int, doc_id: str) -> None:
    if "\x00" in doc_id:
        # No stored id holds a NUL (ingest rejects it), so no token may carry one.
        with pytest.raises(ParameterError):
            parse_after(encode(time_ms, doc_id))
    else:
        assert parse_after(encode(time_ms, doc_id)) == Cursor(time_ms, doc_id)
    assert parse_after(str(time_ms)) == Cursor(time_ms)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300)
@given(
    raw=st.one_of(
        st.text(),
        ODD_TEXT,
        st.text().map(lambda text: "t." + text),
        JSONISH.map(token),
        st.tuples(st.integers(-(2**63), 2**64 - 1), st.text()).map(lambda p: token(list(p))),
    )
)
def test_parse_after_fuzz_cursor_or_parameter_error(raw: str) -> None:
    try:
        cursor = parse_after(raw)
    except ParameterError as exc:
        assert exc.parameter == "after"
    else:
        assert 0 <= cursor.time_ms <= MAX_MS
        assert cursor.doc_id is None or isinstance(cursor.doc_id, str)


# --- parse_search -------------------------------------------------------------------------


def search(kind: Kind, *pairs: tuple[str, str]) -> SearchQuery:
    return parse_search(kind, pairs, customer_id=7, default_tz="America/Sao_Paulo")


def test_parse_search_defaults_and_normalised_values() -> None:
    query = search(
        ATTENDANT_LOGS,
        ("ani", "+55 (63) 98486-6338"),
        ("attendant_email", "RH1@Atende.com"),
        ("start_at", "2020-01-27"),
        ("end_at", "2020-01-27"),
        ("screen", ""),
    )
    assert (query.customer_id, query.size, query.after, query.start_ms, query.end_ms) == (
        7,
        100,
        None,
        ms(2020, 1, 27, 3),
        ms(2020, 1, 28, 3) - 1,
    )
    assert {c.spec.param: c.value for c in query.conditions} == {
        "ani": "63984866338",
        "attendant_email": "rh1@atende.com",
    }
    manaus = search(CDRS, ("tz", "America/Manaus"), ("start_at", "2020-01-27T00:00"))
    assert manaus.start_ms == ms(2020, 1, 27, 4)


@pytest.mark.parametrize(
    ("kind", "pairs", "parameter", "code"),
    [
        (CDRS, [("callid", "1")], "callid", "unknown_parameter"),
        (CDRS, [("size", "5"), ("size", "5")], "size", "duplicate_parameter"),
        (CDRS, [("size", "0")], "size", "invalid_parameter"),
        (CDRS, [("size", "1001")], "size", "invalid_parameter"),
        (CDRS, [("size", "١٠")], "size", "invalid_parameter"),
        (CDRS, [("tz", "Mars/Olympus")], "tz", "invalid_parameter"),
        (CDRS, [("start_at", "2020-01-28"), ("end_at", "2020-01-27")], "start_at", "invalid_range"),
        (CDRS, [("total_charge", "abc")], "total_charge", "invalid_parameter"),
        (CDRS, [("ori_billing_time", "60.5")], "ori_billing_time", "invalid_parameter"),
        (ATTENDANT_LOGS, [("voip_version", "v1")], "voip_version", "invalid_parameter"),
        (ATTENDANT_LOGS, [("duration", "nan")], "duration", "invalid_parameter"),
        (ATTENDANT_LOGS, [("ani", "²١٢٣")], "ani", "invalid_parameter"),
        (ATTENDANT_LOGS, [("token", "x")], "token", "unknown_parameter"),
        (CARDS, [("number", "1")], "token", "missing_parameter"),
        (CARDS, [("token", " ")], "token", "missing_parameter"),
    ],
)
def test_parse_search_errors(
    kind: Kind, pairs: list[tuple[str, str]], parameter: str, code: str
) -> None:
    with pytest.raises(ParameterError) as caught:
        search(kind, *pairs)
    assert (caught.value.parameter, caught.value.code) == (parameter, code)


@pytest.mark.parametrize(
    ("kind", "pair"),
    [
        (CDRS, ("tz", "a" * 300)),
        (CDRS, ("total_charge", "1e9999999")),
        (CDRS, ("end_at", "9999-12-31T23:59")),
    ],
)
def test_parse_search_extreme_values_are_parameter_errors(
    kind: Kind, pair: tuple[str, str]
) -> None:
    with pytest.raises(ParameterError) as caught:
        search(kind, pair)
    assert caught.value.parameter == pair[0]


def pairs_for(kind: Kind) -> st.SearchStrategy[list[tuple[str, str]]]:
    names = st.one_of(st.sampled_from(accepted_parameters(kind)), st.text(max_size=8))
    values = st.one_of(
        st.text(),
        ODD_TEXT,
        INSTANT_LIKE,
        st.sampled_from(ZONES),
        st.integers().map(str),
        st.decimals(allow_nan=False, allow_infinity=False).map(str),
        st.sampled_from([spec.example for spec in kind.filters]),
    )
    return st.lists(st.tuples(names, values), max_size=6)


@settings(max_examples=150)
@given(data=st.data(), kind=st.sampled_from(list(KINDS.values())))
def test_parse_search_fuzz_query_or_parameter_error(data: st.DataObject, kind: Kind) -> None:
    pairs = data.draw(pairs_for(kind))
    try:
        query = search(kind, *pairs)
    except ParameterError as exc:
        assert exc.parameter in {name for name, _ in pairs} | {"token"}
    else:
        assert 1 <= query.size <= 1000
        if query.start_ms is not None and query.end_ms is not None:
            assert query.start_ms <= query.end_ms
        assert (query.dialer_token is not None) == kind.scope.by_dialer


# --- normalize ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "values", "expected"),
    [
        (normalize.scalar_text, ("19", 19, 19.0, 1.5, {}, [1], None), ("19",) * 3 + ("1.5",)),
        (normalize.integer, (60, 60.0, "60", " -7 ", "60.5", True, "٦٠"), (60, 60, 60, -7)),
        (normalize.number, (29, "29.5", "nan", "inf", 1e400, False, None), (29.0, 29.5)),
    ],
)
def test_scalar_integer_number(function: Any, values: tuple[Any, ...], expected: tuple) -> None:
    """Each value in turn; past the listed expectations every answer is None."""
    padded = expected + (None,) * (len(values) - len(expected))
    assert tuple(function(value) for value in values) == padded


def test_fold_is_unicode_case_folding() -> None:
    assert normalize.scalar_text(True) == "true" and normalize.scalar_text(None) is None
    assert normalize.fold("JOÃO Conceição") == normalize.fold("joão conceição")
    assert normalize.fold("STRASSE") == normalize.fold("straße") == "strasse"
    assert normalize.fold(["x"]) is None


def test_instant_ms() -> None:
    assert normalize.instant_ms("2020-01-27T19:28:13.000-03:00", UTC) == ms(2020, 1, 27, 22, 28, 13)
    assert normalize.instant_ms("2020-02-06T20:28:34.072Z", SP) == ms(2020, 2, 6, 20, 28, 34, 72000)
    assert normalize.instant_ms("2019-01-15T12:00:00", SP) == ms(2019, 1, 15, 14)
    assert normalize.instant_ms(1580164093000, SP) == 1580164093000
    for bad in ("", "yesterday", None, True, [1]):
        with pytest.raises(ValueError):
            normalize.instant_ms(bad, SP)


def test_version_key_examples() -> None:
    key = normalize.version_key
    assert key("1.14.111.1559") > key("1.9")  # type: ignore[operator]
    assert key("1.9") == key("1.9.0") == key("01.09")
    assert key("Versão 1.14.111.1559") == key("1.14.111.1559")
    assert key("1.10") > key("1.9.99")  # type: ignore[operator]
    assert key("no version") is None


def stripped(parts: tuple[int, ...]) -> tuple[int, ...]:
    while parts and parts[-1] == 0:
        parts = parts[:-1]
    return parts


VERSION = st.lists(
    st.tuples(st.integers(0, 10**10 - 1), st.integers(0, 2)), min_size=1, max_size=5
).map(lambda parts: ".".join(str(n).zfill(len(str(n)) + pad) for n, pad in parts))


@given(versions=st.lists(VERSION, min_size=2, max_size=12))
def test_version_key_orders_like_tuples_of_ints(versions: list[str]) -> None:
    def as_tuple(text: str) -> tuple[int, ...]:
        return stripped(tuple(int(part) for part in text.split(".")))

    by_key = sorted(versions, key=lambda v: normalize.version_key(v) or "")
    assert [normalize.version_key(v) for v in versions].count(None) == 0
    assert by_key == sorted(versions, key=as_tuple)
    for a, b in zip(versions, versions[1:], strict=False):
        ka, kb = normalize.version_key(a), normalize.version_key(b)
        assert ka is not None and kb is not None
        assert (ka < kb, ka == kb) == (as_tuple(a) < as_tuple(b), as_tuple(a) == as_tuple(b))


def test_decimal_key_examples() -> None:
    key = normalize.decimal_key
    assert key("1.350") == key(1.35) == key("1.35") == key(Decimal("1.3500")) == key(" 1.35 ")
    assert key("1,35") == key("1,350") == key("1.35") == "1.35"  # the decimal comma
    assert key("0.0") == key(0) == key("-0") == key("0,0")
    assert key(1e2) == key(100) == key("100.00")  # a JSON number is the number it is
    assert key("1.35") != key("1.351")
    assert [key(v) for v in ("abc", "NaN", "Infinity", True, None, [1])] == [None] * 6
    # Text with an exponent, a thousands separator or two separators is refused.
    assert [key(v) for v in ("1E+2", "1e2", "1.234,56", "1,234.56", "1_000", "1,2,3")] == [None] * 6


# Decimals as a ledger holds them: up to 28 significant digits, modest exponents.
REALISTIC = st.builds(
    lambda n, e: Decimal(f"{n}E{e}"), st.integers(-(10**28) + 1, 10**28 - 1), st.integers(-40, 40)
)


def spellings(value: Decimal) -> list[Any]:
    fixed = format(value, "f")
    padded = fixed + ("0" if "." in fixed else ".0")
    return [value, fixed, padded, padded.replace(".", ",")]


@given(a=REALISTIC, b=REALISTIC, same=st.booleans())
def test_decimal_key_equality_is_decimal_equality(a: Decimal, b: Decimal, same: bool) -> None:
    if same:
        b = Decimal(spellings(a)[2])
    for text_a in spellings(a):
        for text_b in spellings(b):
            equal_keys = normalize.decimal_key(text_a) == normalize.decimal_key(text_b)
            assert equal_keys == (a == b), (text_a, text_b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0000000000000000000000000000001", "1"),  # 32 significant digits
        ("12345678901234567890123456789", "12345678901234567890123456790"),
        ("1e-9999999", "0"),
    ],
)
def test_decimal_key_distinct_values_get_distinct_keys(a: str, b: str) -> None:
    assert Decimal(a) != Decimal(b)
    assert normalize.decimal_key(a) != normalize.decimal_key(b)


@pytest.mark.parametrize("raw", ["1e9999999", "-1E+1000000000", "1e999999999999999999"])
def test_decimal_key_of_huge_exponent_is_no_crash(raw: str) -> None:
    result = normalize.decimal_key(raw)
    assert result is None or isinstance(result, str)


def test_digits_examples() -> None:
    assert normalize.digits("+55 (63) 98486-6338") == "5563984866338"
    assert normalize.digits(5563984866338) == "5563984866338"
    assert normalize.digits("²١٢٣５") is None
    assert normalize.digits(None) is None


@given(text=st.text() | st.text(alphabet=st.sampled_from("09 +()-²³١٢٣۴５x")))
def test_digits_keeps_exactly_the_ascii_digits(text: str) -> None:
    expected = "".join(char for char in text if char in "0123456789") or None
    assert normalize.digits(text) == expected
