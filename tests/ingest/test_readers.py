"""Tests for atende_logs.ingest.readers."""

from __future__ import annotations

import gc
import io
import tempfile
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atende_logs.formats import Format
from atende_logs.ingest.readers import (
    READABLE,
    Record,
    detect_format,
    ndjson_blocks,
    ndjson_ranges,
    read_ndjson_block,
    read_ndjson_range,
    read_records,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

BOM = b"\xef\xbb\xbf"
NOT_OBJECT = "o registro não é um objeto JSON"
NOT_ARRAY = "o corpo deve ser um array JSON ou NDJSON"


def read(data: bytes, fmt: Format | None = None) -> list[Record]:
    return list(read_records(io.BytesIO(data), fmt))


def ok(position: int, value: dict[str, Any]) -> Record:
    return Record(position, value, None)


class LazyStream(io.RawIOBase):
    """A raw stream that pulls chunks from an iterator only when asked, counting bytes served."""

    def __init__(self, chunks: Iterable[bytes], max_read: int | None = None) -> None:
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""
        self._max_read = max_read
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        out = memoryview(buffer).cast("B")
        limit = len(out) if self._max_read is None else min(len(out), self._max_read)
        filled = 0
        while filled < limit:
            if not self._pending:
                self._pending = next(self._chunks, b"")
                if not self._pending:
                    break
            n = min(limit - filled, len(self._pending))
            out[filled : filled + n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled += n
        self.produced += filled
        return filled


# --- format detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"[", "json"),
        (b"  \r\n\t[{}]", "json"),
        (BOM + b"[", "json"),
        (BOM + b" \n [", "json"),
        (b"{", "ndjson"),
        (b"", "ndjson"),
        (b"   \n", "ndjson"),
        (BOM, "ndjson"),
        (b'"[', "ndjson"),
    ],
)
def test_detect_format(head: bytes, expected: str) -> None:
    assert detect_format(head) == expected


def test_auto_picks_json_array_and_ndjson() -> None:
    assert read(b' \n[{"a": 1}, {"a": 2}]') == [ok(1, {"a": 1}), ok(2, {"a": 2})]
    # If this were taken for an array, the second line would be lost.
    assert read(b'{"a": 1}\n{"a": 2}\n') == [ok(1, {"a": 1}), ok(2, {"a": 2})]


def test_auto_sees_past_whitespace_longer_than_a_read_chunk() -> None:
    blank = b" \n" * 20_000
    assert read(blank + b'[{"a": 1}]') == [ok(1, {"a": 1})]
    # The skipped blank lines still count for NDJSON line numbers.
    assert read(blank + b'{"a": 1}\n') == [ok(20_001, {"a": 1})]


def test_unknown_format_is_rejected_eagerly() -> None:
    with pytest.raises(ValueError):
        read_records(io.BytesIO(b""), "xml")  # type: ignore[arg-type]


# --- NDJSON -----------------------------------------------------------------------------------


def test_ndjson_blank_lines_and_bad_line_in_the_middle() -> None:
    data = b'{"a": 1}\n\n   \t\n{"a": oops}\r\n{"b": [1, 2]}\n\n'
    records = read(data)
    assert [r.position for r in records] == [1, 4, 5]
    assert records[0] == ok(1, {"a": 1})
    assert records[1].value is None
    assert records[1].error is not None
    assert records[1].error.startswith("JSON inválido: ")
    # Only the reason, not orjson's "line 1 column N" which would be wrong for the file.
    assert "line 1" not in records[1].error
    assert records[2] == ok(5, {"b": [1, 2]})


def test_ndjson_last_line_without_newline_and_crlf() -> None:
    assert read(b'{"a": 1}\r\n{"a": 2}', "ndjson") == [ok(1, {"a": 1}), ok(2, {"a": 2})]


@pytest.mark.parametrize("fmt", [None, Format.NDJSON])
def test_ndjson_bom_is_stripped(fmt: Format | None) -> None:
    data = BOM + '{"nome": "João"}\n{"nome": "Conceição"}\n'.encode()
    assert read(data, fmt) == [ok(1, {"nome": "João"}), ok(2, {"nome": "Conceição"})]


def test_ndjson_bom_followed_by_blank_lines_keeps_line_numbers() -> None:
    assert read(BOM + b'\n\n{"a": 1}\n', "ndjson") == [ok(3, {"a": 1})]


def test_ndjson_non_object_values() -> None:
    data = b'[1, 2]\n"texto"\n3\nnull\ntrue\n{"ok": true}\n'
    records = read(data, "ndjson")
    assert [(r.position, r.error) for r in records[:5]] == [(n, NOT_OBJECT) for n in range(1, 6)]
    assert all(r.value is None for r in records[:5])
    assert records[5] == ok(6, {"ok": True})


def test_ndjson_invalid_utf8_line_is_an_error_and_reading_goes_on() -> None:
    records = read(b'{"a": "\xff"}\n{"a": 2}\n', "ndjson")
    assert records[0].position == 1
    assert records[0].error is not None and records[0].error.startswith("JSON inválido: ")
    assert records[1] == ok(2, {"a": 2})


def test_ndjson_empty_input_yields_nothing() -> None:
    assert read(b"", "ndjson") == []
    assert read(b"\n \n") == []


# --- JSON array -------------------------------------------------------------------------------


def test_json_array_pretty_printed() -> None:
    items: list[Any] = [
        {"id": 1, "nome": "Almoço", "tags": ["a", "b"], "extra": {"x": None}},
        "não sou objeto",
        {"id": 3},
        [1, 2],
        {"id": 5},
    ]
    data = BOM + orjson.dumps(items, option=orjson.OPT_INDENT_2)
    assert data.count(b"\n") > 10
    records = read(data)
    assert records == [
        ok(1, items[0]),
        Record(2, None, NOT_OBJECT),
        ok(3, {"id": 3}),
        Record(4, None, NOT_OBJECT),
        ok(5, {"id": 5}),
    ]


def test_json_empty_array() -> None:
    assert read(b"  [ ]  ", "json") == []


@pytest.mark.parametrize("data", [b'{"item": {"a": 1}}', b"42", b"", b"   ", b'"x"'])
def test_json_top_level_not_an_array(data: bytes) -> None:
    # ijson's "item" prefix would happily match a top-level key named "item".
    assert read(data, "json") == [Record(1, None, NOT_ARRAY)]


def test_json_truncated_array_keeps_earlier_records() -> None:
    records = read(b'[{"a": 1},\n {"b": 2},\n {"c": ', "json")
    assert records[:2] == [ok(1, {"a": 1}), ok(2, {"b": 2})]
    assert len(records) == 3
    last = records[2]
    assert last.position == 3
    assert last.value is None
    assert last.error is not None
    assert last.error.startswith("JSON inválido a partir do registro 3: ")
    assert "\n" not in last.error


def test_json_syntax_error_midway_stops_reading() -> None:
    records = read(b'[{"a": 1}, {"b": }, {"c": 3}]')
    assert records[0] == ok(1, {"a": 1})
    assert len(records) == 2
    assert records[1].position == 2
    assert records[1].error is not None
    assert records[1].error.startswith("JSON inválido a partir do registro 2: ")


def test_json_invalid_utf8_message_is_clean() -> None:
    records = read(b'[{"a": 1}, {"b": "\xff"}]')
    assert records[0] == ok(1, {"a": 1})
    error = records[1].error
    assert error is not None
    assert error.startswith("JSON inválido a partir do registro 2: ")
    # yajl reports this one as the repr of a bytes object holding the input; none of it leaks.
    assert "\\n" not in error and "b'" not in error and "\\xff" not in error


def test_json_trailing_garbage_after_array() -> None:
    records = read(b'[{"a": 1}] lixo')
    assert records[0] == ok(1, {"a": 1})
    assert records[1].position == 2
    assert records[1].error is not None
    assert records[1].error.startswith("JSON inválido a partir do registro 2: ")


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_numbers_come_back_as_int_and_float_never_decimal(fmt: Format) -> None:
    obj = b'{"f": 1.5, "e": 1e3, "z": 0.0, "i": 2, "n": -7, "nested": [0.25, {"g": 2.5}]}'
    data = b"[" + obj + b"]" if fmt == "json" else obj + b"\n"
    [record] = read(data, fmt)
    assert record.value is not None
    value = record.value
    assert type(value["f"]) is float and value["f"] == 1.5
    assert type(value["e"]) is float and value["e"] == 1000.0
    assert type(value["z"]) is float
    assert type(value["i"]) is int and type(value["n"]) is int
    assert type(value["nested"][0]) is float
    assert type(value["nested"][1]["g"]) is float
    assert not isinstance(value["f"], Decimal)


# --- CSV --------------------------------------------------------------------------------------


def test_csv_comma() -> None:
    data = b"nome,fila,is_scheduled\nAna,vendas,true\nBruno,suporte,0\n"
    assert read(data, "csv") == [
        ok(2, {"nome": "Ana", "fila": "vendas", "is_scheduled": True}),
        ok(3, {"nome": "Bruno", "fila": "suporte", "is_scheduled": False}),
    ]


def test_csv_semicolon_bom_and_accents() -> None:
    text = (
        " nome ; observação ;confirmado;is_scheduled\r\n"
        "João;Almoço;NÃO;NÃO\r\n"
        '"Conceição, Maria";"pausa; café";sim;Sim\r\n'
    )
    records = read(BOM + text.encode("utf-8"), "csv")
    assert records == [
        ok(
            2,
            {"nome": "João", "observação": "Almoço", "confirmado": "NÃO", "is_scheduled": False},
        ),
        ok(
            3,
            {
                "nome": "Conceição, Maria",
                "observação": "pausa; café",
                "confirmado": "sim",
                "is_scheduled": True,
            },
        ),
    ]


def test_csv_tab_delimiter() -> None:
    assert read(b"a\tb\n1\t2\n", "csv") == [ok(2, {"a": "1", "b": "2"})]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("sim", True),
        ("SIM", True),
        (" Sim ", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("não", False),
        ("NÃO", False),
        ("na\u0303o", False),  # decomposed "não", as some macOS tools write it
        ("talvez", "talvez"),
        ("nao", "nao"),
        ("2", "2"),
        ("", None),
    ],
)
def test_csv_is_scheduled_conversion(cell: str, expected: object) -> None:
    data = f"id;is_scheduled\n7;{cell}\n".encode()
    [record] = read(data, "csv")
    assert record.value is not None
    assert record.value["is_scheduled"] == expected
    assert type(record.value["is_scheduled"]) is type(expected)
    # Only that column is converted.
    assert record.value["id"] == "7"


def test_csv_wrong_column_count_and_reading_goes_on() -> None:
    data = b"a;b\n1;2;3\n4\n5;6\n"
    assert read(data, "csv") == [
        Record(2, None, "a linha tem 3 colunas, o cabeçalho tem 2"),
        Record(3, None, "a linha tem 1 colunas, o cabeçalho tem 2"),
        ok(4, {"a": "5", "b": "6"}),
    ]


def test_csv_empty_cells_and_empty_rows() -> None:
    data = b"a,b,c\n,x,\n\n,,\n1,,3\n"
    assert read(data, "csv") == [
        ok(2, {"a": None, "b": "x", "c": None}),
        ok(5, {"a": "1", "b": None, "c": "3"}),
    ]


def test_csv_position_is_the_first_line_of_a_multiline_row() -> None:
    data = b'a,b\n1,"linha um\nlinha dois"\n2,x\n'
    assert read(data, "csv") == [
        ok(2, {"a": "1", "b": "linha um\nlinha dois"}),
        ok(4, {"a": "2", "b": "x"}),
    ]


def test_csv_blank_lines_before_header_count() -> None:
    assert read(b"\n\na;b\n1;2\n", "csv") == [ok(4, {"a": "1", "b": "2"})]


def test_csv_invalid_utf8_is_pinned_to_its_line_and_stops() -> None:
    # The bad byte sits far past the decoder's first read-ahead chunk.
    lines = [b"id;nome"] + [f"{n};Almoço".encode() for n in range(2, 2000)]
    lines[1499] = b"1500;Almo\xe7o"  # latin-1, as an old spreadsheet would save it
    records = read(b"\n".join(lines) + b"\n", "csv")
    assert len(records) == 1499
    assert records[-2] == ok(1499, {"id": "1499", "nome": "Almoço"})
    assert records[-1] == Record(1500, None, "texto não é UTF-8 válido")


def test_csv_invalid_utf8_in_header() -> None:
    assert read(b"n\xe3o;b\n1;2\n", "csv") == [Record(1, None, "texto não é UTF-8 válido")]


@pytest.mark.parametrize("data", [b"", BOM, b"\n\n", b"a;b\n", b"a;b\n;\n\n"])
def test_csv_without_data_rows_yields_nothing(data: bytes) -> None:
    assert read(data, "csv") == []


def test_csv_is_never_auto_detected() -> None:
    [record] = read(b"a,b\n")
    assert record.error is not None and record.error.startswith("JSON inválido")


# --- streams ----------------------------------------------------------------------------------


SAMPLES: list[tuple[Format | None, bytes]] = [
    (None, BOM + b'\n{"a": 1}\n\nnope\n[2]\n{"b": "\xc3\xa7"}'),
    (None, BOM + b' [{"a": 1}, 2, {"b": 1.5}, {"c": '),
    ("json", b'\n\n[{"a": 1}]'),
    ("csv", BOM + "x;is_scheduled\n\nAlmoço;NÃO\n1;2;3\n".encode()),
    ("csv", BOM + b"x;y\n1;\xff\n2;3\n"),
]


@pytest.mark.parametrize(("fmt", "data"), SAMPLES)
def test_one_byte_reads_give_the_same_records(fmt: Format | None, data: bytes) -> None:
    expected = read(data, fmt)
    assert expected
    trickle = LazyStream([data], max_read=1)
    assert list(read_records(trickle, fmt)) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("fmt", "data"), SAMPLES)
def test_caller_stream_is_left_open(fmt: Format | None, data: bytes) -> None:
    exhausted = io.BytesIO(data)
    list(read_records(exhausted, fmt))
    abandoned = io.BytesIO(data)
    next(read_records(abandoned, fmt))
    gc.collect()
    assert not exhausted.closed
    assert not abandoned.closed


LAZY_LINES = 200_000


def _lazy_body(fmt: Format) -> Iterator[bytes]:
    pad = "x" * 24
    if fmt == "csv":
        yield b"n;pad;is_scheduled\n"
        for n in range(LAZY_LINES):
            yield f"{n};{pad};sim\n".encode()
    elif fmt == "json":
        yield b"[\n"
        for n in range(LAZY_LINES):
            yield (b",\n" if n else b"") + f'{{"n": {n}, "pad": "{pad}"}}'.encode()
        yield b"\n]\n"
    else:
        for n in range(LAZY_LINES):
            yield f'{{"n": {n}, "pad": "{pad}"}}\n'.encode()


@pytest.mark.parametrize("fmt", [None, *READABLE])
def test_first_record_arrives_before_the_stream_is_exhausted(fmt: Format | None) -> None:
    body_fmt = Format.JSON if fmt is None else fmt
    total = sum(len(chunk) for chunk in _lazy_body(body_fmt))
    assert total > 6_000_000
    stream = LazyStream(_lazy_body(body_fmt))
    records = read_records(stream, fmt)
    first = next(records)
    assert first.error is None and first.value is not None
    assert first.value["n"] in (0, "0")
    # A few read-ahead buffers at most, nowhere near the whole body.
    assert stream.produced < 256 * 1024
    rest = [record.position for record in records if record.error is None]
    assert len(rest) == LAZY_LINES - 1
    assert stream.produced == total


# --- properties -------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    # yajl (ijson's C backend) rejects -2**63 itself, so stay one inside the signed range.
    | st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(), json_values, max_size=6)


@settings(database=None, deadline=None)
@given(objects=st.lists(json_objects, max_size=12), blanks=st.lists(st.integers(0, 2)))
def test_ndjson_round_trip(objects: list[dict[str, Any]], blanks: list[int]) -> None:
    lines: list[bytes] = []
    expected: list[Record] = []
    for i, obj in enumerate(objects):
        lines.extend([b"  "] * (blanks[i] if i < len(blanks) else 0))
        lines.append(orjson.dumps(obj))
        expected.append(ok(len(lines), obj))
    data = b"\n".join(lines) + b"\n"
    assert read(data, "ndjson") == expected
    assert read(data) == expected


@settings(database=None, deadline=None)
@given(objects=st.lists(json_objects, max_size=12), pretty=st.booleans())
def test_json_array_round_trip(objects: list[dict[str, Any]], pretty: bool) -> None:
    data = orjson.dumps(objects, option=orjson.OPT_INDENT_2 if pretty else 0)
    expected = [ok(n, obj) for n, obj in enumerate(objects, start=1)]
    assert read(data, "json") == expected
    assert read(data) == expected


def test_ndjson_records_carry_their_text_as_received() -> None:
    """The text is what gets stored: it must be the line itself, and the same object."""
    data = b'{"b": 1,  "a": [1.50, "x"]}\r\n\n  {"z":null}  \n[1]\n'
    records = read(data, "ndjson")
    assert [record.raw for record in records] == [
        b'{"b": 1,  "a": [1.50, "x"]}',
        b'{"z":null}',
        None,
    ]
    for record in records[:2]:
        assert record.raw is not None and orjson.loads(record.raw) == record.value


def test_array_records_carry_no_text() -> None:
    assert [record.raw for record in read(b'[{"a": 1}]', "json")] == [None]


# --- NDJSON in blocks (the parallel import's reader) ---------------------------------------

ndjson_lines = st.lists(
    st.one_of(
        st.dictionaries(
            st.text(max_size=5), st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8), max_size=3
        ).map(orjson.dumps),
        st.sampled_from([b"", b"   ", b"\t", b'{"broken": ', b"[1, 2]", b"42", b"\xff{}"]),
        st.binary(max_size=12),
    ),
    max_size=25,
)


@given(
    ndjson_lines,
    st.booleans(),
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),
    st.integers(1, 64),
)
def test_ndjson_blocks_read_as_the_whole_stream(lines, bom, newline, final_newline, size):
    data = (BOM if bom else b"") + newline.join(lines) + (newline if final_newline else b"")
    whole = read(data, "ndjson")
    blocks = list(ndjson_blocks(io.BytesIO(data), size))
    by_block = [r for block, first in blocks for r in read_ndjson_block(block, first)]
    assert by_block == whole
    assert [r.raw for r in by_block] == [r.raw for r in whole]
    assert all(block.endswith(b"\n") for block, _ in blocks[:-1])  # whole lines only


@given(
    ndjson_lines,
    st.booleans(),
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),
    st.integers(1, 64),
    st.binary(max_size=5),
)
def test_ndjson_ranges_read_as_the_whole_stream(lines, bom, newline, final_newline, size, skip):
    """A file read range by range, each numbered from the newlines before it, gives what
    the stream gives, from where the stream is."""
    data = (BOM if bom else b"") + newline.join(lines) + (newline if final_newline else b"")
    whole = read(data, "ndjson")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "records.ndjson"
        path.write_bytes(skip + data)
        with path.open("rb") as stream:
            stream.seek(len(skip))
            ranges = list(ndjson_ranges(stream, str(path), size))
        by_range, line = [], 1
        for number, (part, first_line) in enumerate(ranges):
            assert (first_line is not None) == (number == 0)
            line = first_line or line
            block, newlines = read_ndjson_range(part)
            by_range += read_ndjson_block(block, line)
            line += newlines
            assert block.endswith(b"\n") or number == len(ranges) - 1  # whole lines only
    assert by_range == whole
    assert [r.raw for r in by_range] == [r.raw for r in whole]
