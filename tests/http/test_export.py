"""Exports over HTTP (issue 4), on both databases: asking for one, what it holds, its errors.

An export is the whole listing in one response: it must hold exactly the items the JSON
pages give, in their order, whatever the filters, the range, the ties and the chunking.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from _export_data import (
    BASE_MS,
    FILTERS,
    PATHS,
    Tenant,
    csv_rows,
    export,
    make_docs,
    ndjson_items,
    new_tenant,
    pages,
    put,
    same_items,
)
from atende_logs.export import stream
from atende_logs.export.columns import csv_cell, flatten, header
from atende_logs.http.openapi import example_page
from atende_logs.kinds import CARDS, KINDS
from atende_logs.storage import Store

KIND_NAMES = list(PATHS)
JSON = "application/json"
NDJSON = "application/x-ndjson"
CSV = "text/csv; charset=utf-8"


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Exports read 3 rows at a time: every listing here crosses many chunk boundaries."""
    monkeypatch.setattr(stream, "CHUNK_ROWS", 3)
    yield 3


def _tenant_with_docs(store: Store, kind_name: str, count: int = 40) -> Tenant:
    """Documents over a few seconds, most of them sharing a millisecond with others."""
    rng = random.Random(kind_name)
    times = [BASE_MS + rng.choice([0, 0, 0, 1, 1, 999, 1000, 1000, 5000]) for _ in range(count)]
    tenant = new_tenant(store)
    put(store, tenant, kind_name, make_docs(kind_name, times, rng))
    return tenant


def _cases(kind_name: str) -> list[dict[str, str]]:
    parameter, _, values = FILTERS[kind_name]
    return [
        {},
        {parameter: values[0]},
        {"start_at": str(BASE_MS + 1), "end_at": str(BASE_MS + 1000)},
        {"start_at": str(BASE_MS + 1), parameter: values[1], "after": str(BASE_MS + 1)},
    ]


# 1. The export holds exactly what the pages hold -------------------------------------------


@pytest.mark.parametrize("kind_name", KIND_NAMES)
def test_ndjson_export_equals_the_pages(
    client: TestClient, store: Store, small_chunks: int, kind_name: str
) -> None:
    tenant = _tenant_with_docs(store, kind_name)
    for params in _cases(kind_name):
        expected = pages(client, tenant, kind_name, params)
        response = export(client, tenant, kind_name, {**params, "format": "ndjson"})
        assert response.status_code == 200, response.text
        same_items(ndjson_items(response.content), expected)
    assert len(pages(client, tenant, kind_name, {})) == 40


@pytest.mark.parametrize("kind_name", KIND_NAMES)
def test_csv_export_equals_the_pages(
    client: TestClient, store: Store, small_chunks: int, kind_name: str
) -> None:
    tenant = _tenant_with_docs(store, kind_name)
    for params in _cases(kind_name):
        expected = pages(client, tenant, kind_name, params)
        response = export(client, tenant, kind_name, params, {"accept": "text/csv"})
        assert response.status_code == 200, response.text
        rows = csv_rows(response.content)
        assert rows[0] == header(KINDS[kind_name])
        assert rows[1:] == [
            [csv_cell(v) for v in flatten(KINDS[kind_name], item)] for item in expected
        ]


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_thousands_of_items_in_one_millisecond(client: TestClient, store: Store, fmt: str) -> None:
    """2,500 CDRs in one millisecond, between others: chunks (2,000 rows) cut the tie."""
    rng = random.Random(fmt)
    times = [BASE_MS - 1] * 3 + [BASE_MS] * 2500 + [BASE_MS + 1] * 3
    tenant = new_tenant(store)
    put(store, tenant, "cdrs", make_docs("cdrs", times, rng))
    expected = pages(client, tenant, "cdrs", {}, size=1000)
    assert len(expected) == 2506
    response = export(client, tenant, "cdrs", {"format": fmt})
    assert response.status_code == 200
    if fmt == "ndjson":
        same_items(ndjson_items(response.content), expected)
    else:
        rows = csv_rows(response.content)[1:]
        assert [row[0] for row in rows] == [item["callid"] for item in expected]


def test_size_does_not_limit_an_export(client: TestClient, store: Store, small_chunks: int) -> None:
    tenant = _tenant_with_docs(store, "cdrs")
    response = export(client, tenant, "cdrs", {"format": "ndjson", "size": "1"})
    assert len(ndjson_items(response.content)) == 40


# 2. Asking for one: format, Accept, headers ------------------------------------------------


@pytest.mark.parametrize(
    ("params", "accept", "media_type", "filename"),
    [
        ({"format": "ndjson"}, None, NDJSON, "cdrs.ndjson"),
        ({"format": "csv"}, None, CSV, "cdrs.csv"),
        ({}, "application/x-ndjson", NDJSON, "cdrs.ndjson"),
        ({}, "text/csv", CSV, "cdrs.csv"),
        ({"format": "csv"}, "application/x-ndjson", CSV, "cdrs.csv"),  # format wins
        ({"format": "ndjson"}, "application/json", NDJSON, "cdrs.ndjson"),
        ({"format": "json"}, "text/csv", JSON, None),
        ({}, "*/*", JSON, None),
        ({}, "text/html,*/*;q=0.8", JSON, None),
    ],
)
def test_content_negotiation(
    client: TestClient,
    store: Store,
    params: dict[str, str],
    accept: str | None,
    media_type: str,
    filename: str | None,
) -> None:
    tenant = _tenant_with_docs(store, "cdrs", count=3)
    response = export(client, tenant, "cdrs", params, {"accept": accept} if accept else {})
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["vary"] == "Accept, Accept-Encoding"
    disposition = response.headers.get("content-disposition")
    assert disposition == (filename and f'attachment; filename="{filename}"')


@pytest.mark.parametrize("kind_name", KIND_NAMES)
def test_json_pages_are_unchanged(client: TestClient, store: Store, kind_name: str) -> None:
    """format=json, Accept: application/json or none: today's page, byte for byte."""
    tenant = _tenant_with_docs(store, kind_name, count=5)
    bodies = {
        export(client, tenant, kind_name, params, headers).content
        for params, headers in [
            ({}, {}),
            ({"format": "json"}, {}),
            ({}, {"accept": "application/json"}),
            ({"format": "json"}, {"accept": "text/csv"}),
            ({"format": ""}, {}),
        ]
    }
    assert len(bodies) == 1
    assert bodies.pop().startswith(b'{"total":5,"after":')


@pytest.mark.parametrize("kind_name", KIND_NAMES)
def test_an_empty_export(client: TestClient, store: Store, kind_name: str) -> None:
    tenant = new_tenant(store)
    response = export(client, tenant, kind_name, {"format": "ndjson"})
    assert (response.status_code, response.content) == (200, b"")
    response = export(client, tenant, kind_name, {"format": "csv", "bom": "true"})
    assert response.status_code == 200
    assert (
        response.content == b"\xef\xbb\xbf" + ",".join(header(KINDS[kind_name])).encode() + b"\r\n"
    )


def test_delimiter_and_bom(client: TestClient, store: Store) -> None:
    tenant = _tenant_with_docs(store, "cards", count=5)
    expected = pages(client, tenant, "cards", {})
    for delimiter, sent in [(";", ";"), ("\t", "\t"), ("\t", "tab"), (",", ",")]:
        response = export(
            client, tenant, "cards", {"format": "csv", "delimiter": sent, "bom": "true"}
        )
        assert response.content.startswith(b"\xef\xbb\xbfcard_info_1" + delimiter.encode())
        rows = csv_rows(response.content, delimiter)
        assert rows[1:] == [[csv_cell(v) for v in flatten(CARDS, item)] for item in expected]
    text = export(client, tenant, "cards", {"format": "csv", "delimiter": ";"}).content.decode()
    assert not text.startswith("\ufeff") and "\r\n" in text


# 3. Errors before the first byte: the usual JSON error, with its status ------------------


@pytest.mark.parametrize(
    ("params", "accept", "parameter"),
    [
        ({"format": "xml"}, None, "format"),
        ({"format": "csv", "delimiter": "|"}, None, "delimiter"),
        ({"delimiter": ";"}, "text/csv;q=0", "delimiter"),
        ({"format": "csv", "bom": "sim"}, None, "bom"),
        ({"delimiter": ";"}, None, "delimiter"),  # CSV only
        ({"format": "ndjson", "bom": "true"}, None, "bom"),
        ({"format": "ndjson", "size": "0"}, None, "size"),  # still validated
        ({"after": "id:nobody"}, "text/csv", "after"),
        ({"after": "id:nobody"}, None, "after"),
        ({"start_at": "ontem"}, "application/x-ndjson", "start_at"),
    ],
)
def test_bad_requests_answer_400_json(
    client: TestClient, store: Store, params: dict[str, str], accept: str | None, parameter: str
) -> None:
    tenant = _tenant_with_docs(store, "cdrs", count=3)
    response = export(client, tenant, "cdrs", params, {"accept": accept} if accept else {})
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON
    error = response.json()["error"]
    assert (error["status"], error["parameter"]) == (400, parameter)
    assert error["code"] == "invalid_parameter"


@pytest.mark.parametrize(
    "params",
    [
        {"format": "xml"},
        {"format": "csv", "delimiter": "|"},
        {"after": "id:nobody", "format": "ndjson"},
        {"format": "csv"},
    ],
)
def test_a_bad_key_answers_401_before_any_400(client: TestClient, params: dict[str, str]) -> None:
    for key in ["", "atl_live_nope", "x" * 80]:
        response = client.get(
            PATHS["cdrs"], params=params, headers={"x-api-key": key, "accept": "text/csv"}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_an_unknown_dialer_answers_404_json(client: TestClient, store: Store) -> None:
    tenant = new_tenant(store)
    other = new_tenant(store)
    for token in ["atl_dlr_nope", other.token]:
        response = client.get(
            PATHS["cards"],
            params={"token": token, "format": "csv"},
            headers={"x-api-key": tenant.key},
        )
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
        assert response.headers["content-type"] == JSON


# 4. The OpenAPI document describes exports, and still the contract's examples -------------


@pytest.mark.parametrize("kind_name", KIND_NAMES)
def test_openapi_documents_exports(client: TestClient, kind_name: str) -> None:
    operation = client.get("/openapi.json").json()["paths"][PATHS[kind_name]]["get"]
    names = [parameter["name"] for parameter in operation["parameters"]]
    assert {"format", "delimiter", "bom"} <= set(names)
    assert names.index("tz") < names.index("format")  # after the common ones, before filters
    size = next(p for p in operation["parameters"] if p["name"] == "size")
    assert "ignored by an export" in size["description"]
    after = next(p for p in operation["parameters"] if p["name"] == "after")
    assert "`id:`" in after["description"] and "card:" in after["description"]
    content = operation["responses"]["200"]["content"]
    assert list(content) == ["application/json", NDJSON, "text/csv"]
    items = example_page(KINDS[kind_name])["items"]
    assert content["application/json"]["example"]["items"][0].keys() <= items[0].keys()
    assert ndjson_items(content[NDJSON]["example"].encode()) == items
    rows = csv_rows(content["text/csv"]["example"].encode())
    assert rows == [
        header(KINDS[kind_name]),
        *[[csv_cell(v) for v in flatten(KINDS[kind_name], i)] for i in items],
    ]
