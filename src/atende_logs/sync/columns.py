"""A kind's table at the destination: which fields become typed columns, and a change's row.

Every table has ``id`` (the feed's id, the primary key), the kind's time field, one column
per filter of the list endpoint (what a BI user filters on, read from the same paths the
server filters on, under the parameter's name), a few more fields per kind (``EXTRA``),
``changed_at`` (when the record last changed, from the feed) and ``doc``, the whole
document as JSON (UTF-8 bytes, as orjson writes them: DuckDB's Arrow takes them as they
are, where a ``str`` would be encoded again). A value that does not fit its column's type
(a ``duration`` sent as text, a time that does not parse) leaves the column null; ``doc``
always has it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

from atende_logs.kinds import Kind, getter

Doc = dict[str, Any]
Path = tuple[str, ...]
ColumnType = Literal["text", "integer", "real", "boolean", "time", "json"]

DEFAULT_ZONE = ZoneInfo("America/Sao_Paulo")
"""Where a time without an offset is read: the service's default zone."""

EXTRA: dict[str, tuple[tuple[str, ColumnType], ...]] = {
    "cdrs": (
        ("ori_end_time", "time"),
        ("duration_call", "integer"),
        ("direction", "text"),
        ("ani", "text"),
        ("dnis", "text"),
        ("has_audio", "boolean"),
        ("public_audio_url", "text"),
        ("audio_processing_state", "text"),
        ("my_status_name", "text"),
        ("queue_dialer_name", "text"),
    ),
    "cards": (("schedule", "time"), ("is_scheduled", "boolean"), ("source", "text")),
}
"""Fields of a kind that are no filter but worth a column of their own."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64 = range(-(2**63), 2**63)


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    values: Callable[[list[Doc], list[Doc]], list[Any]]
    """The column's values of upserts, from (the changes, their items): None where missing
    or of another type. A column at a time, one list comprehension each, which costs a page
    a fraction of a row at a time."""


def table_columns(kind: Kind) -> tuple[Column, ...]:
    """The columns of ``kind``'s table, ``id`` first."""
    fields: list[tuple[str, ColumnType, tuple[Path, ...]]] = [
        (kind.time_field, "time", ((kind.time_field,),))
    ]
    for spec in kind.filters:
        if spec.paths != ((kind.id_field,),):  # the id has its own column
            fields.append((spec.param, spec.column_type, spec.paths))
    for name, type_ in EXTRA.get(kind.name, ()):
        fields.append((name, type_, ((name,),)))
    columns = [Column("id", "text", lambda changes, _: [change["id"] for change in changes])]
    for name, type_, paths in fields:
        columns.append(Column(name, type_, _from_items(paths, type_)))
    columns.append(Column("changed_at", "time", _changed_at))
    columns.append(Column("doc", "json", _docs))
    return tuple(columns)


def column_values(columns: tuple[Column, ...], changes: list[Doc]) -> list[list[Any]]:
    """Upserts' values, one list per column in ``columns`` order, one item per change."""
    items = [change["item"] for change in changes]
    return [column.values(changes, items) for column in columns]


def _from_items(
    paths: tuple[Path, ...], type_: ColumnType
) -> Callable[[list[Doc], list[Doc]], list[Any]]:
    """The values at ``paths`` (the first not null; the same paths the server filters on)."""
    convert = _CONVERTERS[type_]
    extract = getter(paths)
    key = paths[0][0] if len(paths) == 1 and len(paths[0]) == 1 else None

    def values(_: list[Doc], items: list[Doc]) -> list[Any]:
        if key is not None:  # most: a field at the top, read without a call per item
            found = [item.get(key) for item in items]
        else:
            found = [extract(item) for item in items]
        if type_ == "text":  # most are text already
            return [v if v is None or v.__class__ is str else convert(v) for v in found]
        return [None if v is None else convert(v) for v in found]

    return values


def _changed_at(changes: list[Doc], _: list[Doc]) -> list[datetime | None]:
    return [_time(change.get("changed_at")) for change in changes]


def _docs(_: list[Doc], items: list[Doc]) -> list[bytes]:
    return [orjson.dumps(item) for item in items]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _integer(value: Any) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in _INT64:
        return value
    return None


def _real(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _time(value: Any) -> datetime | None:
    """ISO 8601 text (read in the service's zone without an offset) or epoch milliseconds,
    as a UTC instant."""
    try:
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.strip())
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=DEFAULT_ZONE)
            return moment.astimezone(UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _EPOCH + timedelta(milliseconds=value)
    except (ValueError, OverflowError):
        pass
    return None


_CONVERTERS: dict[ColumnType, Callable[[Any], Any]] = {
    "text": _text,
    "integer": _integer,
    "real": _real,
    "boolean": _boolean,
    "time": _time,
    "json": _text,
}
