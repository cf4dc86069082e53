"""Parquet output: the CSV's flat columns (``export/columns.py``), each with a proper type.

pyarrow is an optional extra (``pip install 'atende-logs[parquet]'``), imported only here.

A column's type is that of its value in the spec's example document, fixed on the kind
(``Kind.flat``; a test checks them against the examples):

- booleans are ``bool``, whole numbers ``int64``;
- times (the kind's time field and every other ISO-8601 time of the examples, plus a card's
  ``schedule``, null in the example) are ``timestamp[us, tz=UTC]``: ISO-8601 text with an
  offset is that instant; without one it is read in the pull's ``tz`` parameter, else in
  America/Sao_Paulo (the service's default zone); a number is epoch milliseconds;
- every other column, ``extra`` included, is text: strings as they are, objects and arrays
  as JSON text, numbers and booleans as the CSV writes them.

Nothing is lost: a value that does not fit its column's type (a ``duration`` sent as text,
a time that does not parse) leaves the column null and goes, under its dotted name, into
``extra`` with the fields no column holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from atende_logs.client.errors import MissingExtraError
from atende_logs.export.columns import cell, columns, flatten, header
from atende_logs.kinds import FlatType, Kind

if TYPE_CHECKING:
    import pyarrow as pa


DEFAULT_ZONE = "America/Sao_Paulo"
"""Where offset-less times are read when the pull has no ``tz``: the service's default."""

BATCH_ROWS = 10_000
"""Rows converted and written at a time: memory stays flat whatever the file's size."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64 = range(-(2**63), 2**63)
_MISFIT = object()
"""What a converter returns for a value its column's type cannot hold."""

Converter = Callable[[Any], Any]


def column_types(kind: Kind) -> list[FlatType]:
    """The type of each column of ``header(kind)``, in order (``extra`` is text)."""
    flat = kind.flat
    return [*map(flat.type_of, flat.columns), "text"]


def require_pyarrow() -> None:
    """Raise ``MissingExtraError`` with the install command when pyarrow is missing."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            "Parquet output needs pyarrow: pip install 'atende-logs[parquet]'"
        ) from exc


def write_parquet(lines: Iterable[bytes], destination: Path, kind: Kind, zone: tzinfo) -> int:
    """Write the items of ``lines`` (NDJSON) as a Parquet file at ``destination``.

    Returns the number of rows. Raises ``MissingExtraError`` without pyarrow.
    """
    require_pyarrow()
    import pyarrow.parquet as pq

    schema = arrow_schema(kind)
    converters = _converters(kind, zone)
    names = header(kind)
    rows = 0
    with pq.ParquetWriter(destination, schema) as writer:
        batch: list[list[Any]] = [[] for _ in names]
        for line in lines:
            if not line.strip():
                continue
            row = typed_row(kind, orjson.loads(line), converters)
            for column, value in zip(batch, row, strict=True):
                column.append(value)
            rows += 1
            if len(batch[0]) == BATCH_ROWS:
                writer.write_batch(_record_batch(schema, batch))
                batch = [[] for _ in names]
        if batch[0]:
            writer.write_batch(_record_batch(schema, batch))
    return rows


def arrow_schema(kind: Kind) -> pa.Schema:
    """The Parquet schema of ``kind``: ``header(kind)`` with ``column_types(kind)``."""
    import pyarrow as pa

    arrow_types = {
        "boolean": pa.bool_(),
        "integer": pa.int64(),
        "time": pa.timestamp("us", tz="UTC"),
        "text": pa.string(),
    }
    return pa.schema(
        [
            pa.field(name, arrow_types[type_])
            for name, type_ in zip(header(kind), column_types(kind), strict=True)
        ]
    )


def typed_row(kind: Kind, doc: dict[str, Any], converters: list[Converter]) -> list[Any]:
    """The document's values in ``header(kind)`` order, each of its column's type; values
    that do not fit their type move into ``extra`` (JSON text, null when empty)."""
    values = flatten(kind, doc)
    extra: dict[str, Any] = values[-1] or {}
    names = columns(kind)
    for index, convert in enumerate(converters):
        value = values[index]
        if value is None:
            continue
        converted = convert(value)
        if converted is _MISFIT:
            extra[names[index]] = value
            converted = None
        values[index] = converted
    values[-1] = cell(extra) if extra else None
    return values


def _converters(kind: Kind, zone: tzinfo) -> list[Converter]:
    by_type: dict[FlatType, Converter] = {
        "boolean": _boolean,
        "integer": _integer,
        "time": lambda value: _time(value, zone),
        "text": _text,
    }
    return [by_type[type_] for type_ in column_types(kind)[:-1]]  # extra is done apart


def _boolean(value: Any) -> Any:
    return value if isinstance(value, bool) else _MISFIT


def _integer(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in _INT64:
        return value
    return _MISFIT


def _time(value: Any, zone: tzinfo) -> Any:
    try:
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.strip())
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
            return moment.astimezone(UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _EPOCH + timedelta(milliseconds=value)
    except (ValueError, OverflowError):
        pass
    return _MISFIT


def _text(value: Any) -> Any:
    return value if isinstance(value, str) else cell(value)


def _record_batch(schema: pa.Schema, columns: list[list[Any]]) -> pa.RecordBatch:
    import pyarrow as pa

    arrays = [
        pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
