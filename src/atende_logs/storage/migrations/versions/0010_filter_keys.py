"""Filter columns recomputed from the stored documents, with the keys of issue 21 (1c).

Phone numbers are keyed as erasure reads them ("5511987654321" is "11987654321"), amounts
take the decimal comma ("1,35" is "1.35") and no exponent in text, text is keyed in
Unicode NFC, and an extension of digits only drops its leading zeros ("019" is "19")
(``atende_logs.normalize``, docs/api.md "Filters"). A filter column holds the key ingest
computed, so rows stored before this kept the old keys, which the new parameters' keys
would not meet: each changed column of every row is computed again from its document.

Rows are read a batch at a time in primary-key order and only rows whose keys changed are
written. Only filter columns change, never ``time_ms``, so the hourly counts stay as they
are (PostgreSQL's update trigger nets every row to zero); the data version of each customer
and kind whose rows changed is bumped, so cached totals retire. A row whose new keys would
pass the index entry limit (``ingest.documents.MAX_INDEXED_BYTES``; NFC can lengthen some
scripts) keeps its old keys.

Cost: a read and a JSON parse of every document, inside the migration's transaction, which
holds writes to the rows it changed until it commits: tens of seconds per 100,000 rows
(docs/benchmarks-history.md, "Figures from code comments"). Plan the upgrade of a large
live database for a quiet hour.

The schema does not change, but the columns' meaning does: during a rolling deploy, the
previous release's processes compare their old keys with the new columns, and miss rows
whose phone, amount, extension or decomposed text changed key, until they are replaced.
The downgrade computes the keys of the code before this revision again (frozen below), so
that code finds what it found before.

Revision ID: 0010_filter_keys
Revises: 0009_sqlite_upsert_counts
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from alembic import op

from atende_logs import normalize
from atende_logs.ingest.documents import MAX_INDEXED_BYTES
from atende_logs.kinds import KINDS, Kind

revision = "0010_filter_keys"
down_revision = "0009_sqlite_upsert_counts"
branch_labels = None
depends_on = None

BATCH = 2_000
"""Rows read and written per statement."""

# The columns whose key changed, as they are at this revision (not read from the code,
# which may grow columns later migrations add).
_CHANGED: dict[str, tuple[str, ...]] = {
    "attendant_logs": (
        "attendant_email",
        "attendant_name",
        "description",
        "duration",
        "ani",
        "source",
        "direction",
        "call_id",
        "kind",
        "screen",
        "extension_number",
    ),
    "cdrs": (
        "alt_dnis",
        "total_charge",
        "selected_options",
        "zendesk_ticket_id",
        "configuration_kind",
        "period",
        "call_terminated",
        "call_status",
    ),
    "cards": ("number", "status", "card_info_1", "card_info_2", "card_info_3"),
}
_SQL_TYPES = {"text": "text", "real": "double precision"}

Key = Callable[[Any], Any]


def _kinds() -> list[Kind]:
    # The kinds of this revision: one added since has no rows to recompute yet.
    return [kind for kind in KINDS.values() if kind.table in _CHANGED]


def upgrade() -> None:
    for kind in _kinds():
        specs = {spec.column: spec for spec in kind.stored_filters}
        keys = [specs[column].key for column in _CHANGED[kind.table]]
        _recompute(kind, keys)


def downgrade() -> None:
    for kind in _kinds():
        specs = {spec.column: spec for spec in kind.stored_filters}
        keys = [_OLD_KEYS.get(specs[column].key, _old_text) for column in _CHANGED[kind.table]]
        _recompute(kind, keys)


def _recompute(kind: Kind, keys: Sequence[Key]) -> None:
    """Compute ``_CHANGED[kind.table]`` again with ``keys`` from every row's document."""
    columns = _CHANGED[kind.table]
    specs = {spec.column: spec for spec in kind.stored_filters}
    extracts = [specs[column].extract for column in columns]
    scope = list(kind.scope.columns)
    touched: set[int] = set()
    for rows in _batches(kind.table, scope, columns):
        changed = []
        for row in rows:
            primary_key, doc, old = row[: len(scope) + 1], row[len(scope) + 1], row[-len(columns) :]
            new = _storable(
                [key(extract(doc)) for extract, key in zip(extracts, keys, strict=True)]
            )
            if new != list(old) and _fits(primary_key[-1], new):
                changed.append((*primary_key, *new))
                touched.add(primary_key[0])
        if changed:
            _write(kind.table, scope, columns, [specs[c].column_type for c in columns], changed)
    for customer_id in sorted(touched):
        op.get_bind().exec_driver_sql(
            _placeholders(
                "INSERT INTO data_versions (customer_id, kind, version) VALUES (?, ?, 1) "
                "ON CONFLICT (customer_id, kind) DO UPDATE SET version = data_versions.version + 1"
            ),
            (customer_id, kind.table),
        )


def _batches(
    table: str, scope: list[str], columns: Sequence[str]
) -> Iterator[list[tuple[Any, ...]]]:
    """Rows of (scope..., doc_id, parsed document, columns...), ``BATCH`` at a time."""
    key = [*scope, "doc_id"]
    select = (
        f"SELECT {', '.join(key)}, doc, {', '.join(columns)} FROM {table} "
        f"WHERE ({', '.join(key)}) > ({', '.join('?' for _ in key)}) "
        f"ORDER BY {', '.join(key)} LIMIT {BATCH}"
    )
    last: tuple[Any, ...] = (*(-1 for _ in scope), "")  # before every key
    bind = op.get_bind()
    while True:
        rows = bind.exec_driver_sql(_placeholders(select), last).fetchall()
        if not rows:
            return
        yield [
            (*row[: len(key)], orjson.loads(row[len(key)]), *row[len(key) + 1 :]) for row in rows
        ]
        last = tuple(rows[-1][: len(key)])


def _write(
    table: str,
    scope: list[str],
    columns: Sequence[str],
    types: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> None:
    key = [*scope, "doc_id"]
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        sets = ", ".join(f"{column} = ?" for column in columns)
        where = " AND ".join(f"{column} = ?" for column in key)
        values = [(*row[len(key) :], *row[: len(key)]) for row in rows]
        bind.exec_driver_sql(f"UPDATE {table} SET {sets} WHERE {where}", values)
        return
    # One statement per batch (the update trigger runs once per statement), joined on the
    # primary key: a hash join would read the whole table once per batch.
    arrays = [list(values) for values in zip(*rows, strict=True)]
    sql_types = ["integer"] * len(scope) + ["text"] + [_SQL_TYPES[t] for t in types]
    unnest = ", ".join(f"%s::{sql_type}[]" for sql_type in sql_types)
    names = [*key, *columns]
    bind.exec_driver_sql("SET LOCAL enable_hashjoin = off")
    bind.exec_driver_sql("SET LOCAL enable_mergejoin = off")
    bind.exec_driver_sql(
        f"UPDATE {table} AS t SET {', '.join(f'{c} = v.{c}' for c in columns)} "
        f"FROM unnest({unnest}) AS v({', '.join(names)}) "
        f"WHERE {' AND '.join(f't.{c} = v.{c}' for c in key)}",
        tuple(arrays),
    )
    bind.exec_driver_sql("RESET enable_hashjoin")
    bind.exec_driver_sql("RESET enable_mergejoin")


def _placeholders(sql: str) -> str:
    return sql if op.get_bind().dialect.name != "postgresql" else sql.replace("?", "%s")


def _storable(values: list[Any]) -> list[Any]:
    return [None if isinstance(v, str) and "\x00" in v else v for v in values]


def _fits(doc_id: str, values: list[Any]) -> bool:
    # Filter columns this migration leaves alone are a few bytes (a version, a number).
    # Characters first, as ingest counts: UTF-8 takes at most 4 bytes a character.
    text = [v if isinstance(v, str) else str(v) for v in values if v is not None]
    if (len(doc_id) + sum(map(len, text))) * 4 <= MAX_INDEXED_BYTES:
        return True
    return len(doc_id.encode()) + sum(len(v.encode()) for v in text) <= MAX_INDEXED_BYTES


# The keys before this revision, for the downgrade ------------------------------------------


def _old_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _old_fold(value: Any) -> str | None:
    text = _old_text(value)
    return None if text is None else text.casefold()


def _old_digits(value: Any) -> str | None:
    text = _old_text(value)
    return (re.sub(r"[^0-9]+", "", text) or None) if text is not None else None


def _old_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if result == result and abs(result) != float("inf") else None


def _old_decimal(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    if number.is_zero():
        return "0"
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    kept = len(digits)
    while digits[kept - 1] == 0:
        kept -= 1
    exponent += len(digits) - kept
    if not -64 <= exponent <= 64:
        return None
    return format(Decimal((sign, digits[:kept], exponent)), "f")


_OLD_KEYS: dict[Key, Key] = {
    normalize.fold: _old_fold,
    normalize.phone: _old_digits,
    normalize.number: _old_number,
    normalize.decimal_key: _old_decimal,
}
"""Today's key of a column -> the key it had before this revision (``_old_text`` for the
exact and extension keys, which were the plain text then)."""
