"""The pieces of a pull that need no server: output formats, Parquet column types, the
state file and the fingerprint that tells one pull from another."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import atende_logs.client as client_package
from atende_logs.client import Format, LogsClient, Output, Pull, output_for_path, parquet
from atende_logs.client.api import Page, kind_named
from atende_logs.client.parquet import _converters, column_types, typed_row
from atende_logs.client.pull import _encoder
from atende_logs.client.state import PullSpec, PullState, fsync_directory
from atende_logs.export.columns import columns, header
from atende_logs.export.encoders import CsvEncoder, NdjsonEncoder
from atende_logs.http.openapi import example_page
from atende_logs.kinds import CARDS, CDRS, KINDS, FlatType

ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
MANAUS = ZoneInfo("America/Manaus")


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(client_package).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)  # not submodules
    }
    assert sorted(client_package.__all__) == sorted(public)


def test_output_formats() -> None:
    assert output_for_path("x/a.CSV", ";", True) == Output("csv", ";", True)
    assert output_for_path("a.parquet").format == "parquet"
    assert output_for_path("a.pq").format == "parquet"
    assert output_for_path("a.ndjson").format == "ndjson"
    assert output_for_path("noext").format == "ndjson"
    with pytest.raises(ValueError, match="unknown format"):
        Output("xlsx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="delimiter"):
        Output("csv", "|")
    assert isinstance(_encoder(_spec(fmt=Output("parquet"))), NdjsonEncoder)


def test_a_pull_writes_only_its_formats(tmp_path: Path) -> None:
    with (
        LogsClient("http://127.0.0.1:9", "k") as client,
        pytest.raises(ValueError, match="a pull writes ndjson, csv, parquet, not json"),
    ):
        Pull.open(client, CDRS, {}, tmp_path / "cdrs.json", Output(Format.JSON))
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_the_public_api_takes_a_kind_or_its_name() -> None:
    assert kind_named("cdrs") is kind_named(CDRS) is CDRS
    with pytest.raises(ValueError, match="unknown kind 'calls'; one of: attendant-logs"):
        kind_named("calls")


def test_encoders_write_whole_lines() -> None:
    texts = ['{"b":1,"a":"Almoço"}'.encode(), b'{\n  "z": null\r\n}', b'{"c" :\t2}']
    expected = '{"b":1,"a":"Almoço"}\n{"z":null}\n{"c" :\t2}\n'.encode()
    assert NdjsonEncoder().encode_texts(texts) == expected  # whitespace across lines only
    assert NdjsonEncoder().encode_texts([]) == b""
    assert NdjsonEncoder().head() == b""
    encoder = CsvEncoder(CARDS, "\t", bom=True)
    assert encoder.head() == ("\ufeff" + "\t".join(header(CARDS)) + "\r\n").encode()
    row = encoder.encode_items([{"number": "55", "card_info_3": "NÃO\tSIM", "novo": 1}])
    cells = ["", "55", "", "", "", "", "", '"NÃO\tSIM"', "", "", '"{""novo"":1}"\r\n']
    assert row == "\t".join(cells).encode()


def _expected_type(value: Any) -> FlatType:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str) and ISO_TIME.match(value):
        return "time"
    return "text"


@pytest.mark.parametrize("kind", list(KINDS))
def test_column_types_are_those_of_the_spec_examples(kind: str) -> None:
    example = example_page(KINDS[kind])["items"][0]
    values = dict(
        zip(
            header(KINDS[kind]),
            typed_row(KINDS[kind], example, _converters(KINDS[kind], UTC)),
            strict=True,
        )
    )
    flat: dict[str, Any] = {}

    def walk(doc: dict[str, Any], prefix: str) -> None:
        for key, value in doc.items():
            if isinstance(value, dict) and value:
                walk(value, f"{prefix}{key}.")
            else:
                flat[prefix + key] = value

    walk(example, "")
    expected = {column: _expected_type(flat[column]) for column in columns(KINDS[kind])}
    if kind == "cards":
        expected["schedule"] = "time"  # null in the example; a call-back time in real cards
    assert dict(zip(columns(KINDS[kind]), column_types(KINDS[kind]), strict=False)) == expected
    typed = KINDS[kind].flat
    assert {*typed.booleans, *typed.integers, *typed.times} <= set(columns(KINDS[kind]))
    assert column_types(KINDS[kind])[-1] == "text"  # extra
    assert values["extra"] is None  # every example value fits its column


@pytest.mark.parametrize(
    ("column", "value", "typed"),
    [
        ("duration", 30, 30),
        ("duration", 30.0, 30),
        ("duration", 2**63, None),
        ("duration", 1.5, None),
        ("duration", True, None),
        ("duration", "30", None),
        ("allow_save", False, False),
        ("allow_save", 0, None),
        ("timestamp", "2024-03-05T10:00:00Z", datetime(2024, 3, 5, 10, tzinfo=UTC)),
        ("timestamp", "2024-03-05T10:00:00", datetime(2024, 3, 5, 10, tzinfo=MANAUS)),
        ("timestamp", " 2024-03-05T07:00:00.5-03:00", datetime(2024, 3, 5, 10, 0, 0, 500_000, UTC)),
        ("timestamp", 1_709_632_800_000, datetime(2024, 3, 5, 10, tzinfo=UTC)),
        ("timestamp", 1e300, None),
        ("timestamp", "ontem", None),
        ("timestamp", False, None),
        ("timestamp", ["2024-03-05"], None),
        ("screen", "pause", "pause"),
        ("screen", 7, "7"),
        ("screen", {"a": [1]}, '{"a":[1]}'),
    ],
)  # fmt: skip
def test_values_that_do_not_fit_move_to_extra(column: str, value: Any, typed: Any) -> None:
    kind = "attendant-logs"
    row = dict(
        zip(
            header(KINDS[kind]),
            typed_row(KINDS[kind], {column: value, "novo": 1}, _converters(KINDS[kind], MANAUS)),
            strict=True,
        )
    )
    assert row[column] == typed
    extra = orjson.loads(row["extra"])
    assert extra == ({"novo": 1} if typed is not None else {"novo": 1, column: value})


def _spec(**changes: Any) -> PullSpec:
    fields: dict[str, Any] = {
        "url": "https://api.example.com",
        "kind": CARDS,
        "params": (("token", "secret-token"), ("start_at", "2024-01-01")),
        "fmt": Output("csv", ";", True),
    }
    return PullSpec(**(fields | changes))


def test_the_fingerprint_tells_pulls_apart() -> None:
    same = [
        _spec(),
        _spec(url="https://api.example.com/"),
        _spec(params=(("start_at", "2024-01-01"), ("token", "secret-token"))),
    ]
    assert len({spec.fingerprint() for spec in same}) == 1
    different = [
        _spec(),
        _spec(url="https://other.example.com"),
        _spec(kind=CDRS),
        _spec(params=(("token", "other-token"), ("start_at", "2024-01-01"))),
        _spec(params=(("token", "secret-token"),)),
        _spec(fmt=Output("csv", ",", True)),
        _spec(fmt=Output("csv", ";", False)),
        _spec(fmt=Output("ndjson")),
        _spec(fmt=Output("parquet")),
    ]
    assert len({spec.fingerprint() for spec in different}) == len(different)
    # Delimiter and BOM shape only CSV.
    assert (
        _spec(fmt=Output("ndjson", ";", True)).fingerprint()
        == _spec(fmt=Output("ndjson")).fingerprint()
    )
    assert "secret-token" not in orjson.dumps(_spec().described()).decode()


@given(
    after=st.none() | st.integers(0, 2**53) | st.text(min_size=1),
    items=st.integers(0, 10**9),
    length=st.integers(0, 10**12),
    total=st.none() | st.integers(0, 10**9),
)
def test_a_state_reads_back(after: Any, items: int, length: int, total: int | None) -> None:
    state = PullState("f" * 64, _spec().described(), after, items, length, total)
    assert PullState.from_json(state.to_json()) == state


def test_a_state_advances_by_a_page() -> None:
    state = PullState.fresh(_spec(), 10)
    assert (state.after, state.items, state.length, state.total) == (None, 0, 10, None)
    page = Page(total=7, after="token", raw_items=[b"{}", b"{}"])
    assert PullState.from_json(state.advanced(page, 5).to_json()).advanced(page, 5) == PullState(
        state.fingerprint, state.pull, "token", 4, 20, 7
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'{"version": 2}',
        b'{"version": 1, "fingerprint": "x"}',
        b'{"version":1,"fingerprint":"x","pull":{},"after":null,"items":-1,"bytes":0,"total":null}',
        b'{"version":1,"fingerprint":"x","pull":{},"after":null,"items":1,"bytes":1.5,"total":0}',
        b'{"version":1,"fingerprint":"x","pull":{},"after":[1],"items":1,"bytes":1,"total":0}',
        b'{"version":1,"fingerprint":1,"pull":{},"after":null,"items":1,"bytes":1,"total":0}',
    ],
)
def test_states_this_version_did_not_write(body: bytes) -> None:
    with pytest.raises(ValueError):
        PullState.from_json(body)


def test_epoch_times_are_milliseconds() -> None:
    converters = dict(zip(header(CARDS), _converters(CARDS, UTC), strict=False))
    assert converters["timestamp"](1500) == datetime(1970, 1, 1, 0, 0, 1, 500_000, UTC)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_a_directory_is_fsynced_and_closed_or_skipped_when_it_cannot_be_opened(
    tmp_path: Path,
) -> None:
    def descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = descriptors()
    fsync_directory(tmp_path)
    # As on Windows, where directories cannot be opened: no error, nothing created.
    fsync_directory(tmp_path / "missing")
    assert descriptors() == before
    assert not (tmp_path / "missing").exists()


def test_parquet_is_written_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    monkeypatch.setattr(parquet, "BATCH_ROWS", 2)
    cards = [{"number": str(n), "timestamp": f"2024-03-0{n}T10:00:00Z"} for n in range(1, 6)]
    lines = [orjson.dumps(card) + b"\n" for card in cards]
    path = tmp_path / "c.parquet"
    rows = parquet.write_parquet([*lines[:2], b"\n", *lines[2:]], path, CARDS, UTC)
    table = pq.read_table(path)
    assert rows == table.num_rows == 5
    assert table.column("number").to_pylist() == ["1", "2", "3", "4", "5"]
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
