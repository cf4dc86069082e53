"""The OpenAPI document's parameter schemas admit exactly what the parser takes
(``query.values``): every value a pattern admits is accepted, and every value the parser
accepts is admitted, each parameter on its own. Schemathesis holds the running server to the
same schemas (tests/http/test_schemathesis.py); this is where a disagreement is cheap to find.
"""

from __future__ import annotations

import re
import re._constants as sre
import re._parser as sre_parse
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from atende_logs import normalize
from atende_logs.errors import ParameterError
from atende_logs.kinds import CARDS, CDRS, KINDS, Kind
from atende_logs.query import parse_listing, values
from atende_logs.query.output import CSV_PARAMETERS

EDGE_ZONES = ("UTC", "Etc/GMT-14", "Etc/GMT+12", "America/Sao_Paulo")
"""The zones furthest east and west, and the default: a time the schema admits is taken in
every one."""
EDGE_DAYS = ("1969-12-31", "1970-01-01", "9999-12-31", "19691231", "19700101", "99991231")
"""Days whose times the server takes or refuses by their zone, so the schema leaves them out."""


def accepted(kind: Kind, name: str, value: str, tz: str = "America/Sao_Paulo") -> bool:
    """Whether a search of ``kind`` takes ``value`` for parameter ``name`` alone (with CSV
    asked for, for the CSV options; with a dialer token, for cards)."""
    pairs = [("format", "csv")] if name in CSV_PARAMETERS else []
    pairs += [("token", "t")] if kind.scope.by_dialer and name != "token" else []
    try:
        parse_listing(
            kind, [*pairs, (name, value)], default_format="json", customer_id=7, default_tz=tz
        )
    except ParameterError as exc:
        assert exc.parameter == name, exc  # nothing else was wrong
        return False
    return True


def admits(schema: dict[str, Any], value: str) -> bool:
    """JSON Schema's reading of a pattern: searched for, ``$`` the end of the text (Python's
    also matches before a final line break)."""
    pattern: str = schema["pattern"]
    return re.search(pattern.removesuffix("$") + r"\Z", value) is not None


def near(schema: dict[str, Any], alphabet: str) -> st.SearchStrategy[str]:
    """Values the schema admits, and the same a little broken, and anything at all."""
    admitted = st.from_regex(schema["pattern"], fullmatch=True)
    return st.one_of(
        admitted,
        st.builds(_edit, admitted, st.integers(0, 40), st.sampled_from(["", *alphabet])),
        st.text(alphabet=alphabet, max_size=30),
        st.text(max_size=10),
    )


def _edit(value: str, at: int, char: str) -> str:
    """``value`` with its character at ``at`` replaced by ``char`` (or dropped), or ``char``
    appended past its end."""
    if at >= len(value):
        return value + char
    return value[:at] + char + value[at + 1 :]


_DIGITS = "0123456789"
_BLANKS = " \t\n\u00a0\u3000"
_SIGNS = "+-.,:;"


def _exact(kind: Kind, name: str, schema: dict[str, Any], value: str) -> None:
    assert admits(schema, value) == accepted(kind, name, value), (name, value)


@given(value=near(values.SIZE, _DIGITS + _BLANKS + "-+."))
@example(value="0")
@example(value="0001000")
@example(value="1001")
def test_size(value: str) -> None:
    _exact(CDRS, "size", values.SIZE, value)


@pytest.mark.parametrize("name", ["format", "delimiter", "bom", "csv_formulas"])
@given(data=st.data())
def test_output_parameters(name: str, data: st.DataObject) -> None:
    schema = values.OUTPUT[name]
    value = data.draw(near(schema, "jsonNDcvCSVtabTABrueFLSescapwEW,;|" + _BLANKS + "\u212a"))
    _exact(CDRS, name, schema, value)


@pytest.mark.parametrize("value", ["", " ", "\t", " \t ", "TAB", " Tab ", ";", " ; ", ",,"])
def test_delimiter_blanks(value: str) -> None:
    _exact(CDRS, "delimiter", values.DELIMITER, value)


_FILTER_CHARS = _DIGITS + _BLANKS + _SIGNS + "eE\x00a"
FILTERS = [
    (kind, spec)
    for kind in KINDS.values()
    for spec in kind.filters
    if not any(spec.key is other.key for other in kind.filters[: kind.filters.index(spec)])
]


@pytest.mark.parametrize(
    ("kind", "spec"), FILTERS, ids=[f"{kind.name}-{spec.param}" for kind, spec in FILTERS]
)
@given(data=st.data())
def test_filters(kind: Kind, spec: Any, data: st.DataObject) -> None:
    schema = values.filter_schema(spec.key)
    value = data.draw(near(schema, _FILTER_CHARS))
    if spec.key is normalize.number and sum(c.isdigit() for c in value) > 300:
        return  # a float's largest values: left out of the schema, see query.values
    _exact(kind, spec.param, schema, value)


@given(value=near(values.TIME, _DIGITS + _BLANKS + "-:T Zz+.,"))
@example(value="2020-02-29")
@example(value="2100-02-29")
@example(value="2000-02-29T23:59:59.999999999+23:59")
@example(value="1970-01-02T00:00-23:59")
@example(value="9999-12-30")
@example(value="0")
@example(value="946684800000")
@example(value="946684799999")
@example(value="253402300799999")
@example(value="00000000")
def test_times(value: str) -> None:
    """A time the schema admits is taken in every zone, as a start and as an end; one the
    parser takes is admitted, but on the edge days."""
    for name in ("start_at", "end_at"):
        taken = [accepted(CDRS, name, value, tz) for tz in EDGE_ZONES]
        if admits(values.TIME, value):
            assert all(taken), (name, value, taken)
        elif any(taken):
            assert value.strip().startswith(EDGE_DAYS), (name, value)


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
@given(data=st.data())
def test_after(kind: Kind, data: st.DataObject) -> None:
    """Exact for epoch milliseconds; a token, ``id:`` or ``card:`` is admitted in any form
    the parser takes (whether it names anything is the store's to say)."""
    schema = values.after(kind)
    value = data.draw(
        st.one_of(
            near(schema, _DIGITS + _BLANKS + "t.id:card@-T"),
            st.builds("t.{}".format, st.text(alphabet="ABCDEFabcdef0123456789_-=", max_size=30)),
            st.sampled_from(["t.WzE1ODAxNjQwOTMwMDAsImEiXQ", "id: ", "id:x", "card:1@0"]),
        )
    )
    taken = accepted(kind, "after", value)
    if taken:
        assert admits(schema, value), value
    elif admits(schema, value):
        text = value.strip()
        assert text.startswith("t.") or value.startswith(("id:", "card:")), value


@given(
    value=st.one_of(
        st.sampled_from(values.time_zones()),
        st.sampled_from(values.time_zones()).map(str.lower),
        st.sampled_from(values.time_zones()).map(lambda name: f" {name}"),
        st.text(alphabet="ABCDEFGHabcdefgh/_+-0123 ", max_size=20),
    )
)
@example(value="")
@example(value="  ")
def test_time_zones(value: str) -> None:
    admitted = value.strip() == "" or value in values.time_zones()
    assert admitted == accepted(CDRS, "tz", value)


def test_every_time_zone_admitted_is_taken() -> None:
    refused = [name for name in values.time_zones() if not accepted(CDRS, "tz", name)]

    assert refused == []


@given(value=near(values.TEXT, "a\x00 "))
def test_token(value: str) -> None:
    """Any text but NUL; a blank one counts as not sent, and with no header then gets 400."""
    taken = accepted(CARDS, "token", value)
    assert taken == (admits(values.TEXT, value) and value.strip() != "")


SCHEMAS = {
    "time": values.TIME,
    "size": values.SIZE,
    "blank": values.BLANK,
    "text": values.TEXT,
    **{f"after-{name}": values.after(kind) for name, kind in KINDS.items()},
    **values.OUTPUT,
    **{f"filter-{spec.param}": values.filter_schema(spec.key) for _, spec in FILTERS},
}


@pytest.mark.parametrize("schema", list(SCHEMAS.values()), ids=list(SCHEMAS))
def test_every_pattern_is_anchored_as_a_whole(schema: dict[str, Any]) -> None:
    """One ``^`` first and one ``$`` last, around every alternative: a JSON Schema pattern is
    searched for, so an alternative anchored on one side only would admit any text that
    holds a match; and Schemathesis reads a final ``$`` as the end of the text only when it
    closes the whole pattern."""
    parsed = list(sre_parse.parse(schema["pattern"]))

    assert parsed[0] == (sre.AT, sre.AT_BEGINNING)
    assert parsed[-1] == (sre.AT, sre.AT_END)
