"""The flat columns: the spec's examples flattened, in their order, losing nothing."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from atende_logs.export.columns import EXTRA, cell, columns, flatten, header
from atende_logs.http.openapi import example_page
from atende_logs.kinds import ATTENDANT_LOGS, CDRS, KINDS

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


def _example(kind_name: str) -> dict[str, Any]:
    item: dict[str, Any] = example_page(KINDS[kind_name])["items"][0]
    return item


def _paths(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict) and value:
        return [p for key, inner in value.items() for p in _paths(inner, f"{prefix}{key}.")]
    return [prefix[:-1]]


def _unflatten(kind_name: str, values: list[Any]) -> dict[str, Any]:
    """The document back from its flat values (what a reader of the CSV can rebuild)."""
    doc: dict[str, Any] = {}
    pairs = list(zip(columns(KINDS[kind_name]), values, strict=False))
    pairs += list((values[-1] or {}).items())
    for path, value in pairs:
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return doc


@pytest.mark.parametrize("kind_name", list(KINDS))
def test_columns_are_the_example_flattened_in_order(kind_name: str) -> None:
    example = _example(kind_name)
    assert list(columns(KINDS[kind_name])) == _paths(example)
    assert header(KINDS[kind_name])[-1] == EXTRA
    values = flatten(KINDS[kind_name], example)
    assert values[-1] is None  # the example fills the columns exactly


def test_nested_and_array_fields() -> None:
    header_ = header(ATTENDANT_LOGS)
    values = dict(zip(header_, flatten(ATTENDANT_LOGS, _example("attendant-logs")), strict=True))
    assert values["attendant.email"] == _example("attendant-logs")["attendant"]["email"]
    assert "complements.busy.direction" in values
    assert isinstance(values["attendants_groups"], list)
    assert cell(values["attendants_groups"]) == orjson.dumps(values["attendants_groups"]).decode()
    cdr = dict(zip(header(CDRS), flatten(CDRS, _example("cdrs")), strict=True))
    assert cell(cdr["redirects"]).startswith("[")


@pytest.mark.parametrize("kind_name", list(KINDS))
@given(data=st.data())
def test_flatten_loses_nothing(kind_name: str, data: st.DataObject) -> None:
    """Any change to any field of the example, or any new field, can be read back."""
    doc = copy.deepcopy(_example(kind_name))
    for _ in range(data.draw(st.integers(0, 4))):
        path = data.draw(st.sampled_from(columns(KINDS[kind_name])))
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            if not isinstance(node.get(part), dict):
                break
            node = node[part]
        else:
            node[leaf] = data.draw(json_values)
    # Dotted names are the columns' own syntax, so new fields here have none.
    new_names = st.text(min_size=1, max_size=6).filter(lambda name: "." not in name)
    doc.update(data.draw(st.dictionaries(new_names, json_values, max_size=2)))
    values = flatten(KINDS[kind_name], doc)
    assert len(values) == len(header(KINDS[kind_name]))
    assert _normalised(_unflatten(kind_name, values)) == _normalised(doc)


def _normalised(doc: Any) -> Any:
    """The document without its null fields: a flat file cannot tell a null from an absent
    field, so the columns a document lacks read back as nulls."""
    if isinstance(doc, dict):
        return {key: _normalised(value) for key, value in doc.items() if value is not None}
    return doc


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (1.5, "1.5"),
        ("Almoço", "Almoço"),
        ([1, "NÃO"], '[1,"NÃO"]'),
        ({"a": None}, '{"a":null}'),
    ],
)
def test_cell_text(value: Any, text: str) -> None:
    assert cell(value) == text
