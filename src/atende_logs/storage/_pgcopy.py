"""Rows in PostgreSQL's binary COPY format, for the staging table of an upsert.

PostgreSQL reads binary COPY without scanning every byte for delimiters and escapes, so it
costs the backend less CPU than text. The format is plain bytes, so an import's parsing
processes build it and the writer passes it through untouched (docs/benchmarks-history.md,
"Import into PostgreSQL").

The layout is the one of PostgreSQL's documentation ("Binary Format" of COPY): a header,
then per row a 16-bit field count and each field as a 32-bit length (-1 for NULL) and
its bytes in the type's binary form, then a 16-bit -1.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from atende_logs.kinds import ColumnType, Kind
from atende_logs.models import EncodedRows, Row

SQL_TYPES: dict[ColumnType, str] = {
    "text": "text",
    "integer": "bigint",
    "real": "double precision",
}
"""The PostgreSQL type of a filter column, as migration 0001 created it."""

_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)  # no flags, no extension
_TRAILER = struct.pack("!h", -1)
_NULL = struct.pack("!i", -1)
_LENGTH = struct.Struct("!i").pack
_BIGINT = struct.Struct("!iq").pack  # the length (8), then the value
_DOUBLE = struct.Struct("!id").pack


def staging_columns(kind: Kind) -> list[tuple[str, str]]:
    """(name, type) of each column a payload carries, in order: everything but the scope
    (customer, dialer), which the writer binds, so no payload can name a tenant."""
    fixed = [("doc_id", "text"), ("time_ms", "bigint"), ("doc", "text")]
    return fixed + [(spec.column, SQL_TYPES[spec.column_type]) for spec in kind.stored_filters]


def encode_rows(kind: Kind, rows: Sequence[Row]) -> EncodedRows:
    """``rows`` as one binary COPY of ``staging_columns(kind)``."""
    field_count, value_packers = _layout(kind)
    parts = [_HEADER]
    append = parts.append
    for row in rows:
        doc_id = row.doc_id.encode()
        parts += (field_count, _LENGTH(len(doc_id)), doc_id, _BIGINT(8, row.time_ms))
        parts += (_LENGTH(len(row.doc)), row.doc)
        for pack, value in zip(value_packers, row.values, strict=True):
            append(_NULL if value is None else pack(value))
    append(_TRAILER)
    times = [row.time_ms for row in rows]
    return EncodedRows(b"".join(parts), len(rows), (min(times), max(times)) if times else None)


def _text(value: str) -> bytes:
    data = value.encode()
    return _LENGTH(len(data)) + data


def _bigint(value: int) -> bytes:
    return _BIGINT(8, value)


def _double(value: float) -> bytes:
    return _DOUBLE(8, value)


_PACKERS: dict[ColumnType, Callable[[Any], bytes]] = {
    "text": _text,
    "integer": _bigint,
    "real": _double,
}


@cache
def _layout(kind: Kind) -> tuple[bytes, tuple[Callable[[Any], bytes], ...]]:
    packers = tuple(_PACKERS[spec.column_type] for spec in kind.stored_filters)
    return struct.pack("!h", 3 + len(packers)), packers
