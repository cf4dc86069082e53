"""The access log: one JSON line per request, with no secret or whole phone number in it."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, quote, urlencode

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from atende_logs.http.access_log import PHONE_PARAMETERS, SECRET_PARAMETERS, redact_query

NAMES = sorted(SECRET_PARAMETERS | PHONE_PARAMETERS) + ["start_at", "size", "call_id", "x"]
values = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


def _encode(pairs: list[tuple[str, str]], escape_names: bool) -> str:
    if not escape_names:
        return urlencode(pairs)
    # Every character of the name %-escaped: what a client trying to slip past a mask sends.
    return "&".join("".join(f"%{b:02X}" for b in n.encode()) + "=" + quote(v) for n, v in pairs)


@given(st.lists(st.tuples(st.sampled_from(NAMES), values), max_size=6), st.booleans())
def test_masked_parameters_never_reach_the_log(pairs, escape_names):
    redacted = parse_qsl(redact_query(_encode(pairs, escape_names)), keep_blank_values=True)
    assert [name for name, _ in redacted] == [name for name, _ in pairs]
    for (name, value), (_, shown) in zip(pairs, redacted, strict=True):
        if name in SECRET_PARAMETERS:
            assert shown == "***"
        elif name in PHONE_PARAMETERS:
            assert shown == ("***" + value[-4:] if len(value) > 4 else "***")
        else:
            assert shown == value


@pytest.mark.parametrize(
    "query",
    ["", "start_at=2024-09-01T00:00:00-03:00&size=1000", "call_id=abc&after=171234"],
)
def test_a_query_without_masked_parameters_is_logged_as_sent(query):
    assert redact_query(query) == query


def test_one_json_line_per_request_with_the_query_masked(client: TestClient, caplog):
    with caplog.at_level(logging.INFO, logger="atende_logs.access"):
        client.get("/customers/dialer-queue/cards?token=s3cr3t-t0ken&number=5511987654321&size=5")
    lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "atende_logs.access"]
    assert len(lines) == 1
    entry = lines[0]
    assert entry["method"] == "GET" and entry["path"] == "/customers/dialer-queue/cards"
    assert entry["status"] == 401  # no key sent
    assert "s3cr3t" not in entry["query"] and "987654321" not in entry["query"]
    assert parse_qsl(entry["query"]) == [("token", "***"), ("number", "***4321"), ("size", "5")]


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("after=card%3A5521999999999%402020-01-31T14%3A13%3A29.669Z&token=t",
         [("after", "card:***@2020-01-31T14:13:29.669Z"), ("token", "***")]),
        ("after=card:+55 (21) 99999-9999@1580480009669",
         [("after", "card:***@1580480009669")]),
        ("after=id%3A69709941", None),  # no phone number: logged as sent
    ],
)  # fmt: skip
def test_a_card_after_never_logs_the_card_number(query, logged):
    """after=card:<number>@<timestamp> (issue 4) names a card by its phone number."""
    if logged is None:
        assert redact_query(query) == query
    else:
        assert parse_qsl(redact_query(query)) == logged
