"""Documents into the bytes of an NDJSON or CSV body: the server's exports and the client's
pulls write them with these same encoders.

An encoder turns a chunk of documents into one piece of the body; ``head`` is what comes
before the first piece. The body holds nothing else: no envelope, no summary line, so any
NDJSON or CSV reader reads it. The documents come either as the JSON bytes a store hands
over (``encode``: an export, where NDJSON passes them through unparsed) or as the JSON
texts of a server's page (``encode_texts``: a pull, where NDJSON passes them through too,
unless one spans lines).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import orjson

from atende_logs.export.columns import csv_cell, flatten, header
from atende_logs.formats import Format, Output
from atende_logs.kinds import Kind

BOM = "\ufeff".encode()


class Encoder(Protocol):
    media_type: str
    """The Content-Type of a response holding the body."""
    extension: str
    """The file name extension of the body as an attachment."""

    def head(self) -> bytes:
        """What the body starts with, before the first document."""
        ...

    def encode(self, docs: Sequence[bytes]) -> bytes:
        """The body's piece for these stored documents (JSON bytes), in order."""
        ...

    def encode_texts(self, texts: Sequence[bytes]) -> bytes:
        """The body's piece for these documents as JSON texts from elsewhere (a server's
        page, which may hold whitespace of any kind), in order."""
        ...


class NdjsonEncoder:
    """One document per line: a stored document's bytes passed through, nothing parsed; a
    parsed one as compact JSON, its keys in their order."""

    media_type = Format.NDJSON.media_type
    extension = Format.NDJSON.value

    def head(self) -> bytes:
        return b""

    def encode(self, docs: Sequence[bytes]) -> bytes:
        if not docs:
            return b""
        # A document stored from an NDJSON line may hold a bare CR as JSON whitespace,
        # which readers splitting on universal newlines would take for a line end. Only
        # such a document is re-encoded (checking costs a memchr; parsing all would not).
        lines = [_one_line(doc) if b"\r" in doc else doc for doc in docs]
        lines.append(b"")
        return b"\n".join(lines)

    def encode_texts(self, texts: Sequence[bytes]) -> bytes:
        # Our server's items are stored documents, compact; another's may be pretty-printed.
        lines = [_one_line(text) if b"\n" in text or b"\r" in text else text for text in texts]
        lines.append(b"")
        return b"\n".join(lines) if texts else b""


def _one_line(doc: bytes) -> bytes:
    return orjson.dumps(orjson.loads(doc))


class CsvEncoder:
    """A header row of the kind's flat columns (``export.columns``), then one row per
    document: RFC 4180, lines ending CRLF, UTF-8, with a BOM first if asked.

    Cells a spreadsheet would run as formulas get a leading ``'`` unless
    ``escape_formulas`` is off (``export.formulas``).
    """

    media_type = f"{Format.CSV.media_type}; charset=utf-8"
    extension = Format.CSV.value

    def __init__(
        self,
        kind: Kind,
        delimiter: str = ",",
        bom: bool = False,
        escape_formulas: bool = True,
    ) -> None:
        self._kind = kind
        self._delimiter = delimiter
        self._bom = bom
        self._escape = escape_formulas

    def head(self) -> bytes:
        return (BOM if self._bom else b"") + self._rows([header(self._kind)])

    def encode(self, docs: Sequence[bytes]) -> bytes:
        return self.encode_items(map(orjson.loads, docs))

    def encode_texts(self, texts: Sequence[bytes]) -> bytes:
        return self.encode(texts)

    def encode_items(self, items: Iterable[dict[str, Any]]) -> bytes:
        kind, escape = self._kind, self._escape
        return self._rows(
            [csv_cell(value, escape) for value in flatten(kind, item)] for item in items
        )

    def _rows(self, rows: Iterable[list[str]]) -> bytes:
        buffer = io.StringIO()
        # QUOTE_MINIMAL quotes a field holding the delimiter, a quote, CR or LF, and
        # doubles its quotes: RFC 4180 for any of the three delimiters.
        writer = csv.writer(buffer, delimiter=self._delimiter, lineterminator="\r\n")
        writer.writerows(rows)
        return buffer.getvalue().encode()


def encoder_for(kind: Kind, output: Output) -> Encoder:
    """The encoder of a body of ``kind`` in ``output``'s format, NDJSON or CSV.

    Raises ValueError for another format: a JSON page is not streamed, and Parquet is
    written from NDJSON (``client.parquet``).
    """
    if output.format is Format.CSV:
        return CsvEncoder(kind, output.delimiter, output.bom, output.formulas == "escape")
    if output.format is Format.NDJSON:
        return NdjsonEncoder()
    raise ValueError(f"no encoder for format {output.format.value!r}")
