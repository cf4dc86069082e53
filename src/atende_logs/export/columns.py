"""Documents as rows of a kind's flat columns, for CSV and Parquet.

The columns are the kind's (``Kind.flat``): its spec example's fields, nested objects as
dotted names (``attendant.email``, ``complements.busy.direction``), arrays (``redirects``,
``interactions``, ``attendants_groups``) whole, as JSON text in one cell. Nothing is lost:
a field the example does not have goes, with its dotted name, into the last column,
``extra``, as a JSON object; a column whose value is an object or an array holds it as JSON
text.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson

from atende_logs.export.formulas import FORMULA_FIRST, inert
from atende_logs.kinds import Flat, Kind

EXTRA = "extra"
"""The last column: the fields no other column holds, as a JSON object (empty when none)."""


def columns(kind: Kind) -> tuple[str, ...]:
    """The flat columns of ``kind``, in order, without ``extra``."""
    return kind.flat.columns


def header(kind: Kind) -> list[str]:
    """The column names of ``kind``, in order, ``extra`` last."""
    return [*columns(kind), EXTRA]


def flatten(kind: Kind, doc: dict[str, Any]) -> list[Any]:
    """The document's values in ``header`` order: ``None`` where it lacks a field, and for
    ``extra`` a dict of what no column holds (``None`` when that is nothing)."""
    tree, width = _tree(kind.flat)
    values: list[Any] = [None] * (width + 1)
    extra: dict[str, Any] = {}
    _walk(doc, tree, "", values, extra)
    values[width] = extra or None
    return values


def cell(value: Any) -> str:
    """One value as CSV text: empty for null, ``true``/``false``, JSON for objects and arrays."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return orjson.dumps(value).decode()


def csv_cell(value: Any, escape_formulas: bool = True) -> str:
    """``cell`` in a CSV file: a text that a spreadsheet would run as a formula is made
    inert unless ``escape_formulas`` is off (``export.formulas``). Only text values are
    checked: the JSON text of the other values cannot start like a formula, except a
    negative number, which is data."""
    # cell() written out again rather than called: an export runs this for every cell.
    if value is None:
        return ""
    if type(value) is str:
        if escape_formulas and value[:1] in FORMULA_FIRST:
            return inert(value)
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return orjson.dumps(value).decode()


# A kind's columns as a tree of their path parts; a leaf is the column's index.
_Tree = dict[str, "int | _Tree"]


@cache  # once per kind: a Flat hashes by identity, a dictionary look-up per document
def _tree(flat: Flat) -> tuple[_Tree, int]:
    root: _Tree = {}
    for index, column in enumerate(flat.columns):
        *parents, leaf = column.split(".")
        node = root
        for part in parents:
            child = node.setdefault(part, {})
            assert isinstance(child, dict), column
            node = child
        node[leaf] = index
    return root, len(flat.columns)


def _walk(
    doc: dict[str, Any], tree: _Tree, prefix: str, values: list[Any], extra: dict[str, Any]
) -> None:
    for key, value in doc.items():
        node = tree.get(key)
        if isinstance(node, int):
            values[node] = value
        elif node is not None and isinstance(value, dict) and value:
            _walk(value, node, f"{prefix}{key}.", values, extra)
        else:
            extra[prefix + key] = value
