"""Choosing an export (format, Accept, delimiter, bom) and the ``after`` forms built from an
item (``id:``, ``card:``). No database: what the store does with them is tested over HTTP."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atende_logs import normalize
from atende_logs.errors import ParameterError
from atende_logs.formats import Output
from atende_logs.http.negotiation import preferred_format
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, KINDS, Kind
from atende_logs.models import Cursor, ItemRef
from atende_logs.query import parse_listing, parse_search
from atende_logs.query.parse import accepted_parameters
from atende_logs.query.resume import candidate_ids, parse_item_ref

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
CARD_MS = 1_580_480_009_669  # the spec's card: 2020-01-31T14:13:29.669Z


def listing(kind: Kind, *pairs: tuple[str, str], accept: Any = "json") -> tuple[Any, Output]:
    token = [("token", "t")] if kind.scope.by_dialer else []
    return parse_listing(
        kind,
        [*token, *pairs],
        default_format=accept,
        customer_id=7,
        default_tz="America/Sao_Paulo",
    )


# --- format, delimiter, bom -------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "accept", "expected"),
    [
        ([], "json", Output("json")),
        ([], "ndjson", Output("ndjson")),
        ([], "csv", Output("csv", ",", False)),
        ([("format", "csv")], "ndjson", Output("csv")),  # format wins over Accept
        ([("format", "json")], "csv", Output("json")),
        ([("format", " NDJSON ")], "json", Output("ndjson")),
        ([("format", "")], "csv", Output("csv")),  # empty counts as not given
        (
            [("format", "csv"), ("delimiter", ";"), ("bom", "true")],
            "json",
            Output("csv", ";", True),
        ),
        ([("format", "csv"), ("delimiter", "\t")], "json", Output("csv", "\t")),
        ([("format", "csv"), ("delimiter", "TAB"), ("bom", "False")], "json", Output("csv", "\t")),
        ([("delimiter", ","), ("bom", "")], "csv", Output("csv")),
        ([("csv_formulas", "raw")], "csv", Output("csv", formulas="raw")),
        ([("format", "csv"), ("csv_formulas", " ESCAPE ")], "json", Output("csv")),
        ([("csv_formulas", "")], "csv", Output("csv", formulas="escape")),
    ],
)
def test_output_choices(pairs: list[tuple[str, str]], accept: Any, expected: Output) -> None:
    assert listing(CDRS, *pairs, accept=accept)[1] == expected


@pytest.mark.parametrize(
    ("pairs", "accept", "parameter", "code"),
    [
        ([("format", "xml")], "json", "format", "invalid_parameter"),
        ([("format", "csv"), ("delimiter", "|")], "json", "delimiter", "invalid_parameter"),
        ([("format", "csv"), ("delimiter", " ")], "json", "delimiter", "invalid_parameter"),
        ([("format", "csv"), ("delimiter", ",,")], "json", "delimiter", "invalid_parameter"),
        ([("format", "csv"), ("bom", "yes")], "json", "bom", "invalid_parameter"),
        ([("delimiter", ";")], "json", "delimiter", "invalid_parameter"),  # CSV only
        ([("bom", "true")], "ndjson", "bom", "invalid_parameter"),
        ([("format", "csv"), ("csv_formulas", "off")], "json", "csv_formulas", "invalid_parameter"),
        ([("csv_formulas", "raw")], "json", "csv_formulas", "invalid_parameter"),  # CSV only
        ([("format", "csv"), ("format", "csv")], "json", "format", "duplicate_parameter"),
        ([("formato", "csv")], "json", "formato", "unknown_parameter"),
    ],
)
def test_output_errors(
    pairs: list[tuple[str, str]], accept: Any, parameter: str, code: str
) -> None:
    with pytest.raises(ParameterError) as caught:
        listing(CDRS, *pairs, accept=accept)
    assert (caught.value.parameter, caught.value.code) == (parameter, code)


def test_the_unknown_parameter_message_lists_the_output_parameters() -> None:
    with pytest.raises(ParameterError) as caught:
        listing(CDRS, ("limit", "1"))
    assert "format, delimiter, bom" in caught.value.message
    # A library caller of parse_search asks for a query only: no output parameters there.
    with pytest.raises(ParameterError) as caught:
        parse_search(CDRS, [("format", "csv")], customer_id=7, default_tz="UTC")
    assert caught.value.code == "unknown_parameter"
    assert "format" not in accepted_parameters(CDRS)


def test_size_is_still_validated_with_an_export() -> None:
    assert listing(CDRS, ("format", "csv"), ("size", "1000"))[0].size == 1000
    with pytest.raises(ParameterError) as caught:
        listing(CDRS, ("format", "ndjson"), ("size", "5000"))
    assert caught.value.parameter == "size"


# --- Accept -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "json"),
        ("", "json"),
        ("*/*", "json"),
        ("application/json", "json"),
        ("text/html,application/xhtml+xml,*/*;q=0.8", "json"),
        ("application/x-ndjson", "ndjson"),
        ("text/csv", "csv"),
        ("TEXT/CSV; charset=utf-8", "csv"),
        ("text/csv, */*;q=0.1", "csv"),
        ("application/json, text/csv", "json"),  # a tie keeps JSON
        ("application/json;q=0.5, application/x-ndjson", "ndjson"),
        ("text/csv;q=0.4, application/x-ndjson;q=0.6", "ndjson"),
        ("text/csv;q=0, application/json", "json"),
        ("text/csv;q=0", "json"),  # nothing acceptable: JSON, never 406
        ("text/csv;q=abc", "json"),
        ("text/*", "json"),  # wildcards never select an export
        ("application/json;q=0, text/csv;q=0.1", "csv"),
        ("text/x-csv-ish", "json"),
    ],
)
def test_preferred_format(accept: str | None, expected: str) -> None:
    assert preferred_format(accept) == expected


@given(st.text(max_size=60))
def test_preferred_format_never_fails(accept: str) -> None:
    assert preferred_format(accept) in ("json", "ndjson", "csv")


# --- after=id: and after=card: ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (CDRS, "id:69709941", ItemRef(doc_id="69709941")),
        (ATTENDANT_LOGS, "id:590", ItemRef(doc_id="590")),
        (ATTENDANT_LOGS, "id: a b ", ItemRef(doc_id=" a b ")),  # kept exactly
        (CARDS, "id:k1", ItemRef(doc_id="k1")),
        (CARDS, "id:card:x@1", ItemRef(doc_id="card:x@1")),
        (CARDS, "card:5521999999999@2020-01-31T14:13:29.669Z", ItemRef(None, "5521999999999",
                                                                          CARD_MS)),
        (CARDS, "card:+55 (21) 99999-9999@2020-01-31T11:13:29.669-03:00",
         ItemRef(None, "+55 (21) 99999-9999", CARD_MS)),
        # A "+" sent unencoded arrives as a space.
        (CARDS, "card:5521@2020-01-31T17:13:29.669 03:00", ItemRef(None, "5521", CARD_MS)),
        (CARDS, "card:5521@2020-01-31T11:13:29.669", ItemRef(None, "5521", CARD_MS)),  # server tz
        (CARDS, f"card:a@b@{CARD_MS}", ItemRef(None, "a@b", CARD_MS)),  # epoch ms; last @ splits
        (CARDS, f"card:@{CARD_MS}", ItemRef(None, "", CARD_MS)),
    ],
)  # fmt: skip
def test_item_refs(kind: Kind, raw: str, expected: ItemRef) -> None:
    assert parse_item_ref(raw, kind, SAO_PAULO) == expected
    query = listing(kind, ("after", raw))[0]
    assert (query.after, query.after_item) == (None, expected)


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (CDRS, "id:"),
        (CDRS, "id:   "),
        (CDRS, "card:5521@2020-01-31"),  # cards only
        (CARDS, "card:5521"),
        (CARDS, "card:5521@"),
        (CARDS, "card:5521@ontem"),
        (CARDS, "card:5521@2020-02-30T10:00:00Z"),
        (CARDS, "card:5521@99999999999999999"),
        (CARDS, "card:5521@-5"),
        (CARDS, "ID:1"),
        (CARDS, " id:1"),
    ],
)
def test_item_ref_errors(kind: Kind, raw: str) -> None:
    with pytest.raises(ParameterError) as caught:
        listing(kind, ("after", raw))
    assert (caught.value.parameter, caught.value.code) == ("after", "invalid_parameter")


def test_plain_afters_are_unchanged() -> None:
    assert listing(CDRS, ("after", "1580164093000"))[0].after == Cursor(1580164093000)


@given(
    number=st.one_of(st.text(max_size=12), st.integers(0, 10**15)),
    time_ms=st.integers(0, 10**13),
    dialer_id=st.integers(1, 10**6),
)
def test_a_card_ref_finds_the_id_ingest_derived(number: Any, time_ms: int, dialer_id: int) -> None:
    """What a client writes from a card's own fields gives back the id it was stored under."""
    stored = normalize.derived_card_id(dialer_id, number, time_ms)
    text = number if isinstance(number, str) else str(number)
    if "\x00" in text:
        return  # no parameter holds a NUL
    ref = parse_item_ref(f"card:{text}@{time_ms}", CARDS, SAO_PAULO)
    assert stored in candidate_ids(ref, dialer_id)


def test_a_card_without_a_number_is_found_by_an_empty_one() -> None:
    ref = parse_item_ref(f"card:@{CARD_MS}", CARDS, SAO_PAULO)
    assert set(candidate_ids(ref, 3)) == {
        normalize.derived_card_id(3, None, CARD_MS),
        normalize.derived_card_id(3, "", CARD_MS),
    }


@pytest.mark.parametrize("kind", list(KINDS.values()))
def test_output_parameters_are_accepted_by_every_endpoint(kind: Kind) -> None:
    names = accepted_parameters(kind, output=True)
    assert {"format", "delimiter", "bom"} <= set(names)
