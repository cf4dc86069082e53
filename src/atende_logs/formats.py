"""The formats logs are read and written in: ``Format``, and ``Output``, a format with the
options of its CSV.

One vocabulary for every layer: an import reads NDJSON, a JSON array or CSV; a search
answers a JSON page, or its whole result as NDJSON or CSV (an export); a pull writes NDJSON,
CSV or Parquet. Which layer takes which format is that layer's list (``query.output``,
``client.pull``). "Detect it" (an import's ``auto``) is not a format but its absence:
``Format | None``.

The bytes of each format are written by the encoders of ``export.encoders``, shared by the
server's exports and the client's pulls. This module imports nothing of the project, so
every layer may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath
from typing import Literal, get_args


class Format(StrEnum):
    """A format, by the name the API, the CLI and the state of a pull spell it."""

    JSON = "json"
    """A JSON page (a search's answer), or a JSON array of documents (an import)."""
    NDJSON = "ndjson"
    """One JSON document per line."""
    CSV = "csv"
    """A header row, then one row per document in its kind's flat columns."""
    PARQUET = "parquet"
    """The CSV's columns, typed; written by pulls only (``client.parquet``)."""

    @property
    def media_type(self) -> str:
        """The media type of a body in this format, without parameters."""
        return _MEDIA_TYPES[self]

    @classmethod
    def of_path(cls, path: str | PurePath) -> Format | None:
        """The format a file's name states: ``.csv`` CSV, ``.parquet`` or ``.pq`` Parquet
        (in any case); None for any other name, whose format the caller detects or picks."""
        return _SUFFIXES.get(PurePath(path).suffix.lower())


_MEDIA_TYPES = {
    Format.JSON: "application/json",
    Format.NDJSON: "application/x-ndjson",
    Format.CSV: "text/csv",
    Format.PARQUET: "application/vnd.apache.parquet",
}
_SUFFIXES = {".csv": Format.CSV, ".parquet": Format.PARQUET, ".pq": Format.PARQUET}

CsvFormulas = Literal["escape", "raw"]
"""``escape``: a cell a spreadsheet would run as a formula gets a leading ``'``
(``export.formulas``); ``raw``: every cell as stored, for programs."""
CSV_FORMULAS: tuple[CsvFormulas, ...] = get_args(CsvFormulas)
DELIMITERS = (",", ";", "\t")
"""The CSV field delimiters written."""


@dataclass(frozen=True)
class Output:
    """What a listing is written as: a format and, for CSV, its options (ignored by the
    other formats). ``format`` may be given by name (``Output("csv", ";")``).

    Raises ValueError for an unknown format, delimiter or ``formulas``.
    """

    format: Format
    delimiter: str = ","
    """CSV only: ``,``, ``;`` or a tab."""
    bom: bool = False
    """CSV only: start with a UTF-8 byte order mark, which spreadsheet programs (Excel)
    read as "UTF-8"."""
    formulas: CsvFormulas = "escape"
    """CSV only: whether cells that start like a formula are made inert."""

    def __post_init__(self) -> None:
        if type(self.format) is not Format:
            try:
                object.__setattr__(self, "format", Format(self.format))
            except ValueError:
                known = ", ".join(Format)
                raise ValueError(f"unknown format {self.format!r}; one of: {known}") from None
        if self.delimiter not in DELIMITERS:
            raise ValueError(f"the CSV delimiter must be one of {DELIMITERS!r}")
        if self.formulas not in CSV_FORMULAS:
            raise ValueError(f"formulas must be one of {', '.join(CSV_FORMULAS)}")
