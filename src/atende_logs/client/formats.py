"""Output formats of a pull: how a page of items becomes bytes appended to a file.

A pull appends whole pages and records the file's length after each, so every encoder
turns a page into one ``bytes`` value and knows nothing of files. Parquet cannot be
appended to: its items are staged as NDJSON and converted at the end (``parquet.py``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal, Protocol

import orjson

from atende_logs.export.columns import csv_cell, flatten, header
from atende_logs.models import CsvFormulas

FormatName = Literal["ndjson", "csv", "parquet"]
FORMATS: tuple[FormatName, ...] = ("ndjson", "csv", "parquet")
DELIMITERS = (",", ";", "\t")
CSV_FORMULAS: tuple[CsvFormulas, ...] = ("escape", "raw")
BOM = "\ufeff".encode()


@dataclass(frozen=True)
class OutputFormat:
    """What a pull writes. ``delimiter``, ``bom`` and ``formulas`` apply to CSV only."""

    name: FormatName = "ndjson"
    delimiter: str = ","
    bom: bool = False
    """Start CSV with a UTF-8 byte order mark, which spreadsheet programs read as "UTF-8"."""
    formulas: CsvFormulas = "escape"
    """``escape``: a text cell a spreadsheet would run as a formula gets a leading ``'``
    (``export.formulas``, as the server's exports do); ``raw``: every cell as the server
    sent it, for programs that read the CSV themselves."""

    def __post_init__(self) -> None:
        if self.name not in FORMATS:
            raise ValueError(f"unknown format {self.name!r}; one of: {', '.join(FORMATS)}")
        if self.delimiter not in DELIMITERS:
            raise ValueError(f"the CSV delimiter must be one of {DELIMITERS!r}")
        if self.formulas not in CSV_FORMULAS:
            raise ValueError(f"formulas must be one of {', '.join(CSV_FORMULAS)}")

    @classmethod
    def for_path(
        cls, path: str, delimiter: str = ",", bom: bool = False, formulas: CsvFormulas = "escape"
    ) -> OutputFormat:
        """The format a file name suggests: ``.csv``, ``.parquet``, else NDJSON."""
        suffix = PurePath(path).suffix.lower()
        name: FormatName = (
            "csv" if suffix == ".csv" else "parquet" if suffix in (".parquet", ".pq") else "ndjson"
        )
        return cls(name, delimiter, bom, formulas)


class Encoder(Protocol):
    def head(self) -> bytes:
        """What the file starts with, before any item."""
        ...

    def page(self, items: Sequence[dict[str, Any]]) -> bytes:
        """A page of items, ready to append."""
        ...


class NdjsonEncoder:
    """One JSON object per line, keys in the order the server sent them."""

    def head(self) -> bytes:
        return b""

    def page(self, items: Sequence[dict[str, Any]]) -> bytes:
        return b"".join(orjson.dumps(item, option=orjson.OPT_APPEND_NEWLINE) for item in items)


class CsvEncoder:
    """A header row, then one row per item in the kind's flat columns, lines ending ``\\r\\n``
    (RFC 4180), UTF-8; cells that start like a formula made inert unless
    ``escape_formulas`` is off."""

    def __init__(
        self, kind: str, delimiter: str = ",", bom: bool = False, escape_formulas: bool = True
    ) -> None:
        self.kind = kind
        self.delimiter = delimiter
        self.bom = bom
        self.escape_formulas = escape_formulas

    def head(self) -> bytes:
        return (BOM if self.bom else b"") + self._rows([header(self.kind)])

    def page(self, items: Sequence[dict[str, Any]]) -> bytes:
        kind, escape = self.kind, self.escape_formulas
        return self._rows(
            [csv_cell(value, escape) for value in flatten(kind, item)] for item in items
        )

    def _rows(self, rows: Iterable[list[str]]) -> bytes:
        text = io.StringIO()
        csv.writer(text, delimiter=self.delimiter, lineterminator="\r\n").writerows(rows)
        return text.getvalue().encode()


def encoder_for(fmt: OutputFormat, kind: str) -> Encoder:
    """The encoder of the file a pull appends to (Parquet stages NDJSON)."""
    if fmt.name == "csv":
        return CsvEncoder(kind, fmt.delimiter, fmt.bom, fmt.formulas == "escape")
    return NdjsonEncoder()
