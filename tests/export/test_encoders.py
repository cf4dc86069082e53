"""Export bodies: NDJSON passes the stored bytes through; CSV is RFC 4180 a reader reads back."""

from __future__ import annotations

import copy
import csv
import io
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from atende_logs.export.columns import columns, csv_cell, flatten, header
from atende_logs.export.encoders import BOM, CsvEncoder, NdjsonEncoder, encoder_for
from atende_logs.formats import Output
from atende_logs.http.openapi import example_page
from atende_logs.kinds import CARDS, CDRS, KINDS

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
# Text a CSV must quote: delimiters, quotes, line ends, accents, BOM-like characters.
tricky_text = st.text(alphabet=",;\t\"\r\n '=+-@ãçÃÇõé€😀\ufeffaz09", max_size=10)


def _example(kind_name: str) -> dict[str, Any]:
    item: dict[str, Any] = example_page(KINDS[kind_name])["items"][0]
    return item


@st.composite
def documents(draw: st.DrawFn, kind_name: str) -> dict[str, Any]:
    """The kind's example with random fields changed, removed or added."""
    doc = copy.deepcopy(_example(kind_name))
    for _ in range(draw(st.integers(0, 5))):
        path = draw(st.sampled_from(columns(KINDS[kind_name])))
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part), dict) else {}
        node[leaf] = draw(tricky_text | json_values)
    if draw(st.booleans()):
        doc[draw(tricky_text)] = draw(tricky_text | json_values)
    return doc


def read_back(body: bytes, delimiter: str, bom: bool) -> list[list[str]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff") == bom
    return list(
        csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=delimiter)
    )


def test_ndjson_passes_the_stored_bytes_through() -> None:
    stored = [b'{"b": 1,  "a": "\\u00e3"}', b'{"z":[ ]}']
    encoder = NdjsonEncoder()
    assert encoder.head() == b""
    assert encoder.encode(stored) == b'{"b": 1,  "a": "\\u00e3"}\n{"z":[ ]}\n'
    assert encoder.encode([]) == b""


def test_ndjson_rewrites_only_a_document_holding_a_bare_cr() -> None:
    # JSON whitespace a producer's NDJSON line may hold, which some readers split on.
    encoder = NdjsonEncoder()
    assert encoder.encode([b'{"a":1,\r"b":"x"}', b'{"c": 2}']) == b'{"a":1,"b":"x"}\n{"c": 2}\n'


@pytest.mark.parametrize("kind_name", list(KINDS))
@pytest.mark.parametrize(("delimiter", "bom"), [(",", False), (";", True), ("\t", False)])
@given(data=st.data())
def test_csv_reads_back_as_the_flattened_documents(
    kind_name: str, delimiter: str, bom: bool, data: st.DataObject
) -> None:
    docs = data.draw(st.lists(documents(kind_name), max_size=4))
    encoder = CsvEncoder(KINDS[kind_name], delimiter, bom)
    chunks = data.draw(st.integers(1, 3))
    body = encoder.head() + b"".join(
        encoder.encode([orjson.dumps(d) for d in docs[i::chunks]]) for i in range(chunks)
    )
    rows = read_back(body, delimiter, bom)
    expected_docs = [d for i in range(chunks) for d in docs[i::chunks]]
    assert rows[0] == header(KINDS[kind_name])
    assert rows[1:] == [
        [csv_cell(value) for value in flatten(KINDS[kind_name], doc)] for doc in expected_docs
    ]
    assert body.endswith(b"\r\n")


def test_csv_quoting_is_rfc_4180() -> None:
    doc = {"number": 'dois "aspas", ; e\r\nlinhas', "status": "NÃO", "card_info_1": "Almoço"}
    body = CsvEncoder(CARDS).encode([orjson.dumps(doc)])
    assert body.startswith('Almoço,"dois ""aspas"", ; e\r\nlinhas",'.encode())
    assert body.count(b"\r\n") == 2  # the embedded line end, and the record's
    semicolons = CsvEncoder(CARDS, ";").encode([orjson.dumps(doc)])
    assert b'"dois ""aspas"", ; e\r\nlinhas"' in semicolons  # the ; inside is quoted


def test_accents_round_trip_with_bom_and_semicolons() -> None:
    """What Excel opens: UTF-8 with a BOM, ; between fields."""
    card = _example("cards") | {"card_info_1": "Almoço", "card_info_3": "NÃO"}
    encoder = CsvEncoder(CARDS, ";", bom=True)
    body = encoder.head() + encoder.encode([orjson.dumps(card)])
    assert body.startswith(BOM + b"card_info_1;number;")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert (rows[0]["card_info_1"], rows[0]["card_info_3"]) == ("Almoço", "NÃO")
    assert "Almoço".encode() in body  # UTF-8, never Latin-1 or escapes


def test_encoder_for() -> None:
    assert isinstance(encoder_for(CDRS, Output("ndjson")), NdjsonEncoder)
    csv_encoder = encoder_for(CDRS, Output("csv", ";", True))
    assert isinstance(csv_encoder, CsvEncoder) and csv_encoder.head().startswith(BOM)
    assert csv_encoder.media_type == "text/csv; charset=utf-8"
    with pytest.raises(ValueError):
        encoder_for(CDRS, Output("json"))
