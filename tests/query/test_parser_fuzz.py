"""Whatever text a client sends, the parsers answer a value or the API's own 400 (issue 5).

test_parsers.py fuzzes ``start_at``/``end_at``, ``after`` tokens and whole parameter lists.
This file adds what it does not reach: each filter's value as number- and version-shaped
text, ``size``, ``tz``, the output parameters, ``after=id:``/``card:`` and, through the real
app on both databases, a sample of whole requests (never a 500).
"""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from atende_logs import normalize
from atende_logs.errors import ParameterError
from atende_logs.formats import Output
from atende_logs.kinds import CARDS, KINDS, FilterSpec, Kind
from atende_logs.models import SearchQuery
from atende_logs.query.output import parse_output
from atende_logs.query.parse import MAX_SIZE, accepted_parameters, parse_search
from atende_logs.query.resume import parse_item_ref
from atende_logs.query.times import MAX_MS, zone
from atende_logs.storage import Store

INT64 = (-(2**63), 2**63 - 1)
# Digits as text: ASCII, other scripts' (int() and float() read those), superscripts.
DIGITS = "0123456789" + "٠١٢٣٤٥٦٧٨٩" + "０１２３" + "²³"
# Python refuses to turn more than 4300 digits into an int: runs on both sides of that line.
LONG_DIGITS = st.integers(1, 5000).map(lambda n: "9" * n)
NUMBERISH = st.one_of(
    st.text(DIGITS + "+-.,eE_ xX", max_size=30),
    st.integers().map(str),
    st.floats().map(str),
    st.decimals().map(str),
    st.from_regex(r"-?[0-9]{0,30}(\.[0-9]{0,30})?([eE][-+]?[0-9]{1,12})?", fullmatch=True),
    st.sampled_from(["NaN", "-inf", "Infinity", "0x1F", "1_000", "1e999999999", "-0", "0e0"]),
    LONG_DIGITS,
)
VERSIONISH = st.one_of(
    st.lists(st.text("0123456789", min_size=1, max_size=14), min_size=1, max_size=12).map(".".join),
    st.lists(LONG_DIGITS, min_size=1, max_size=2).map(".".join),
    st.text("0123456789.v- ", max_size=40),
)
ANY_TEXT = st.text(max_size=60)
# Filters whose value is parsed (the others compare the text as sent, or case-folded).
PARSED = {normalize.phone, normalize.integer, normalize.number, normalize.decimal_key,
          normalize.version_key}  # fmt: skip
TYPED_FILTERS = [
    pytest.param(kind, spec, id=f"{kind.name}-{spec.param}")
    for kind in KINDS.values()
    for spec in kind.filters
    if spec.key in PARSED
]
SP = ZoneInfo("America/Sao_Paulo")


def one(kind: Kind, *pairs: tuple[str, str]) -> SearchQuery:
    token = [("token", "t")] if kind.scope.by_dialer else []
    return parse_search(kind, [*token, *pairs], customer_id=1, default_tz="America/Sao_Paulo")


def in_column(spec: FilterSpec, value: object) -> bool:
    """Whether a filter's key is a value its column holds (a 500 at the database if not)."""
    if spec.column_type == "integer":
        return type(value) is int and INT64[0] <= value <= INT64[1]
    if spec.column_type == "real":
        return isinstance(value, float) and value == value and abs(value) != float("inf")
    return isinstance(value, str) and "\x00" not in value


@pytest.mark.parametrize(("kind", "spec"), TYPED_FILTERS)
@settings(max_examples=80)
@given(raw=st.one_of(NUMBERISH, VERSIONISH, ANY_TEXT))
def test_a_typed_filter_reads_a_value_or_answers_400(
    kind: Kind, spec: FilterSpec, raw: str
) -> None:
    try:
        query = one(kind, (spec.param, raw))
    except ParameterError as exc:
        assert (exc.parameter, exc.code) == (spec.param, "invalid_parameter")
        return
    if not raw.strip():
        assert query.conditions == ()  # an empty value is no filter
        return
    (condition,) = query.conditions
    assert in_column(spec, condition.value), condition


def test_a_version_longer_than_python_reads_is_a_400() -> None:
    with pytest.raises(ParameterError):
        one(KINDS["attendant-logs"], ("voip_version", "9" * 4301))


@given(raw=st.one_of(NUMBERISH, ANY_TEXT))
@example(raw="1000")
@example(raw=" 1 ")
def test_size_is_1_to_1000_or_400(raw: str) -> None:
    try:
        query = one(KINDS["cdrs"], ("size", raw))
    except ParameterError as exc:
        assert exc.parameter == "size"
    else:
        assert 1 <= query.size <= MAX_SIZE


ZONE_LIKE = st.one_of(
    ANY_TEXT,
    st.text("abcAmerica/_-.+0123456789", max_size=30),
    st.sampled_from(["../../etc/passwd", "/etc/localtime", "America", "America/", "zone.tab",
                     "tzdata.zi", "UTC\x00", ".", "", "a" * 300, "Etc/GMT+12", "posixrules"]),
)  # fmt: skip


@given(name=ZONE_LIKE)
def test_tz_is_a_zone_or_400(name: str) -> None:
    try:
        found = zone(name)
    except ParameterError as exc:
        assert (exc.parameter, exc.code) == ("tz", "invalid_parameter")
    else:
        assert isinstance(found, ZoneInfo)


@given(
    values=st.dictionaries(
        st.sampled_from(["format", "delimiter", "bom"]),
        st.one_of(ANY_TEXT, st.sampled_from(["csv", " CSV ", "ndjson", "json", "tab", ";", "\t",
                                             "true", "False", ","])),
    ),
    default=st.sampled_from(["json", "ndjson", "csv"]),
)  # fmt: skip
def test_output_parameters_are_an_output_or_400(values: dict[str, str], default: str) -> None:
    try:
        output = parse_output(values, default)  # type: ignore[arg-type]
    except ParameterError as exc:
        assert exc.parameter in values
    else:
        assert isinstance(output, Output) and output.delimiter in (",", ";", "\t")


CARD_TIMES = st.one_of(
    ANY_TEXT,
    st.integers(-(10**20), 10**20).map(str),
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.sampled_from(["2020-01-31T14:13:29.669 03:00", "9999-12-31T23:59:59.999-14:00",
                     "0001-01-01T00:00:00+14:00", str(MAX_MS), str(MAX_MS + 1)]),
)  # fmt: skip


@given(
    kind=st.sampled_from(list(KINDS.values())),
    raw=st.one_of(
        st.builds("id:{}".format, ANY_TEXT),
        st.builds("card:{}@{}".format, ANY_TEXT, CARD_TIMES),
        st.builds("card:{}".format, ANY_TEXT),
    ),
)
def test_an_item_after_is_an_item_or_400(kind: Kind, raw: str) -> None:
    try:
        ref = parse_item_ref(raw, kind, SP)
    except ParameterError as exc:
        assert (exc.parameter, exc.code) == ("after", "invalid_parameter")
    else:
        assert ref.doc_id is not None or (
            kind is CARDS and ref.time_ms is not None and 0 <= ref.time_ms <= MAX_MS
        )


# --- through the app ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader(store: Store) -> tuple[str, str]:
    customer = store.create_customer(f"fuzz {uuid.uuid4().hex[:8]}")
    return store.create_api_key(customer.id)[1], store.create_dialer(customer.id, "d")[1]


def request_pairs(kind: Kind) -> st.SearchStrategy[list[tuple[str, str]]]:
    names = st.one_of(st.sampled_from(accepted_parameters(kind, output=True)), st.text(max_size=6))
    values = st.one_of(NUMBERISH, VERSIONISH, ANY_TEXT, CARD_TIMES.map("card:5521@{}".format))
    return st.lists(st.tuples(names, values), max_size=4)


@settings(max_examples=60)
@given(data=st.data(), kind=st.sampled_from(list(KINDS.values())), with_key=st.booleans())
def test_no_request_is_answered_with_a_500(
    client: TestClient, reader: tuple[str, str], data: st.DataObject, kind: Kind, with_key: bool
) -> None:
    key, token = reader
    pairs = data.draw(request_pairs(kind))
    if kind.scope.by_dialer and data.draw(st.booleans()):
        pairs.append(("token", token))
    headers = {"x-api-key": key} if with_key else {}
    response = client.get(kind.path, params=pairs, headers=headers)
    # 414: a query string past ATENDE_MAX_QUERY_BYTES (long digit runs get there).
    assert response.status_code in (200, 400, 401, 404, 414), response.text
    if not with_key and response.status_code != 414:  # the length is checked before the key
        assert response.status_code == 401
    if response.status_code != 200:
        assert response.json()["error"]["status"] == response.status_code
