"""``atende_logs.formats``: one name per format, which every layer may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from atende_logs import formats
from atende_logs.export.encoders import CsvEncoder, NdjsonEncoder
from atende_logs.formats import Format, Output
from atende_logs.kinds import CDRS


def test_it_imports_nothing_of_the_project() -> None:
    tree = ast.parse(Path(formats.__file__).read_text(encoding="utf-8"))
    imported = [
        name
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    ]
    assert imported and not [name for name in imported if name.startswith("atende_logs")]


def test_the_names_are_those_of_the_api_the_cli_and_the_readers() -> None:
    assert [fmt.value for fmt in Format] == ["json", "ndjson", "csv", "parquet"]
    assert Format("ndjson") is Format.NDJSON and Format.CSV == "csv"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("cdrs.csv", Format.CSV),
        ("x/CDRS.CSV", Format.CSV),
        ("a.parquet", Format.PARQUET),
        ("a.PQ", Format.PARQUET),
        ("a.ndjson", None),
        ("a.json", None),
        ("a.csv.gz", None),
        ("noext", None),
        (Path("dir.csv/file"), None),
    ],
)
def test_of_path(path: str | Path, expected: Format | None) -> None:
    assert Format.of_path(path) is expected


def test_an_output_takes_a_name_and_checks_its_options() -> None:
    output = Output("csv", ";", True, "raw")
    assert output.format is Format.CSV
    assert output == Output(Format.CSV, ";", bom=True, formulas="raw")
    with pytest.raises(ValueError, match="unknown format 'xlsx'; one of: json, ndjson, csv"):
        Output("xlsx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="delimiter"):
        Output(Format.CSV, "|")
    with pytest.raises(ValueError, match="formulas"):
        Output(Format.CSV, formulas="off")  # type: ignore[arg-type]


def test_the_encoders_answer_with_their_formats_media_types() -> None:
    assert NdjsonEncoder.media_type == Format.NDJSON.media_type == "application/x-ndjson"
    assert CsvEncoder(CDRS).media_type == "text/csv; charset=utf-8"
    assert (NdjsonEncoder.extension, CsvEncoder.extension) == ("ndjson", "csv")
