"""Stored documents into the bytes of an export body: NDJSON lines or CSV rows.

An encoder turns a chunk of stored documents (JSON bytes, as the store hands them over)
into one piece of the body; ``head`` is what comes before the first piece. The body holds
nothing else: no envelope, no summary line, so any NDJSON or CSV reader reads it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Protocol

import orjson

from atende_logs.export.columns import csv_cell, flatten, header
from atende_logs.models import Output

BOM = "\ufeff".encode()


class Encoder(Protocol):
    media_type: str
    """The response's Content-Type."""
    extension: str
    """The file name extension of the attachment."""

    def head(self) -> bytes:
        """What the body starts with, before the first document."""
        ...

    def encode(self, docs: list[bytes]) -> bytes:
        """The body's piece for these documents, in order."""
        ...


class NdjsonEncoder:
    """One stored document per line, its bytes passed through: nothing is parsed."""

    media_type = "application/x-ndjson"
    extension = "ndjson"

    def head(self) -> bytes:
        return b""

    def encode(self, docs: list[bytes]) -> bytes:
        if not docs:
            return b""
        # A document stored from an NDJSON line may hold a bare CR as JSON whitespace,
        # which readers splitting on universal newlines would take for a line end. Only
        # such a document is re-encoded (checking costs a memchr; parsing all would not).
        lines = [_one_line(doc) if b"\r" in doc else doc for doc in docs]
        lines.append(b"")
        return b"\n".join(lines)


def _one_line(doc: bytes) -> bytes:
    return orjson.dumps(orjson.loads(doc))


class CsvEncoder:
    """A header row of the kind's columns, then one row per document (RFC 4180, CRLF).

    Cells a spreadsheet would run as formulas get a leading ``'`` unless
    ``escape_formulas`` is off (``export.formulas``).
    """

    media_type = "text/csv; charset=utf-8"
    extension = "csv"

    def __init__(
        self,
        kind_name: str,
        delimiter: str = ",",
        bom: bool = False,
        escape_formulas: bool = True,
    ) -> None:
        self._kind_name = kind_name
        self._delimiter = delimiter
        self._bom = bom
        self._escape = escape_formulas

    def head(self) -> bytes:
        return (BOM if self._bom else b"") + self._rows([header(self._kind_name)])

    def encode(self, docs: list[bytes]) -> bytes:
        kind_name, escape = self._kind_name, self._escape
        return self._rows(
            [csv_cell(value, escape) for value in flatten(kind_name, orjson.loads(doc))]
            for doc in docs
        )

    def _rows(self, rows: Iterable[list[str]]) -> bytes:
        buffer = io.StringIO()
        # QUOTE_MINIMAL quotes a field holding the delimiter, a quote, CR or LF, and
        # doubles its quotes: RFC 4180 for any of the three delimiters.
        writer = csv.writer(buffer, delimiter=self._delimiter, lineterminator="\r\n")
        writer.writerows(rows)
        return buffer.getvalue().encode()


def encoder_for(kind_name: str, output: Output) -> Encoder:
    """The encoder of an export of ``kind_name`` in ``output``'s format (ndjson or csv)."""
    if output.format == "csv":
        return CsvEncoder(
            kind_name, output.delimiter, output.bom, escape_formulas=output.formulas == "escape"
        )
    if output.format == "ndjson":
        return NdjsonEncoder()
    raise ValueError(f"no export encoder for format {output.format!r}")
