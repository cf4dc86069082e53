"""The access log: one JSON line per request, with no secret or whole phone number in it;
the probes' successes left out unless ATENDE_ACCESS_LOG_PROBES asks for them."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.access_log import (
    PHONE_PARAMETERS,
    SECRET_PARAMETERS,
    SHOWN_PARAMETERS,
    redact_query,
)
from atende_logs.storage import open_store

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
        elif name in SHOWN_PARAMETERS:
            assert shown == value
        else:  # "x": a parameter no endpoint has, so nothing says its value is harmless
            assert shown == "***"


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


def _logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int]]:
    return [
        (entry["path"], entry["status"])
        for entry in (
            orjson.loads(r.getMessage()) for r in caplog.records if r.name == "atende_logs.access"
        )
    ]


def _ask_every_probe(settings: Settings, caplog: pytest.LogCaptureFixture) -> list[int]:
    """The probes answering 2xx and failing (/readyz fails: the database is an unmigrated
    file), then one request that is no probe; the statuses, in that order."""
    store = open_store(settings)
    token = {"authorization": "Bearer scrape-token"}
    try:
        with TestClient(create_app(settings, store=store)) as client:
            with caplog.at_level(logging.INFO, logger="atende_logs.access"):
                return [
                    client.get("/healthz").status_code,
                    client.get("/metrics", headers=token).status_code,
                    client.get("/metrics").status_code,  # no token
                    client.get("/readyz").status_code,  # unmigrated
                    client.get("/openapi.json").status_code,
                ]
    finally:
        store.close()


def test_probes_are_logged_only_when_they_fail(tmp_path: Path, caplog) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'unmigrated.db'}",
        metrics_token=SecretStr("scrape-token"),
    )

    statuses = _ask_every_probe(settings, caplog)

    assert statuses == [200, 200, 401, 503, 200]
    assert _logged(caplog) == [("/metrics", 401), ("/readyz", 503), ("/openapi.json", 200)]


def test_every_probe_is_logged_when_the_setting_asks(
    tmp_path: Path, caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATENDE_ACCESS_LOG_PROBES", "true")
    monkeypatch.setenv("ATENDE_DATABASE_URL", f"sqlite:///{tmp_path / 'unmigrated.db'}")
    monkeypatch.setenv("ATENDE_METRICS_TOKEN", "scrape-token")

    statuses = _ask_every_probe(Settings(), caplog)

    assert statuses == [200, 200, 401, 503, 200]
    assert _logged(caplog) == [
        ("/healthz", 200),
        ("/metrics", 200),
        ("/metrics", 401),
        ("/readyz", 503),
        ("/openapi.json", 200),
    ]
