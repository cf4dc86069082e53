"""The cards endpoint takes its dialer token from the spec's ``token`` parameter or from an
``x-dialer-token`` header, which keeps it out of URLs and their logs (issue 21, finding
2.10); on both databases."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from fastapi.testclient import TestClient

from _export_data import BASE_MS, PATHS, Tenant, make_docs, new_tenant, put
from atende_logs.storage import Store


@pytest.fixture
def tenant(store: Store) -> Tenant:
    tenant = new_tenant(store)
    put(store, tenant, "cards", make_docs("cards", [BASE_MS, BASE_MS + 1], random.Random(3)))
    return tenant


def _cards(
    client: TestClient, tenant: Tenant, params: dict[str, str], token: str | None = None
) -> Any:
    headers = {"x-api-key": tenant.key}
    if token is not None:
        headers["x-dialer-token"] = token
    return client.get(PATHS["cards"], params=params, headers=headers)


def test_the_header_alone_is_the_parameter(client: TestClient, tenant: Tenant) -> None:
    by_parameter = _cards(client, tenant, {"token": tenant.token})
    by_header = _cards(client, tenant, {}, tenant.token)
    both = _cards(client, tenant, {"token": tenant.token}, tenant.token)
    assert by_parameter.status_code == by_header.status_code == both.status_code == 200
    assert by_header.json() == by_parameter.json() == both.json()
    assert by_header.json()["total"] == 2


def test_an_export_takes_the_header_too(client: TestClient, tenant: Tenant) -> None:
    response = _cards(client, tenant, {"format": "ndjson"}, tenant.token)
    assert response.status_code == 200, response.text
    assert len(response.content.splitlines()) == 2


@pytest.mark.parametrize(
    ("params", "header", "status", "code"),
    [
        ({"token": "atl_dlr_other"}, "TOKEN", 400, "conflicting_token"),
        ({"token": "TOKEN"}, "atl_dlr_other", 400, "conflicting_token"),
        ({}, None, 400, "missing_parameter"),
        ({}, "   ", 400, "missing_parameter"),  # blank counts as not given, as ?token= does
        ({"token": ""}, "", 400, "missing_parameter"),
        ({}, "atl_dlr_0000000000000000000000000000", 404, "not_found"),
    ],
)
def test_refusals(
    client: TestClient,
    tenant: Tenant,
    params: dict[str, str],
    header: str | None,
    status: int,
    code: str,
) -> None:
    params = {k: tenant.token if v == "TOKEN" else v for k, v in params.items()}
    header = tenant.token if header == "TOKEN" else header
    response = _cards(client, tenant, params, header)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    if status == 400:
        assert response.json()["error"]["parameter"] == "token"


def test_other_kinds_ignore_the_header(client: TestClient, tenant: Tenant) -> None:
    response = client.get(
        PATHS["cdrs"], headers={"x-api-key": tenant.key, "x-dialer-token": "anything"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0


def test_the_openapi_document_declares_the_header(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][PATHS["cards"]]["get"]
    found = {(p["in"], p["name"]): p for p in operation["parameters"]}
    assert found[("header", "x-dialer-token")]["required"] is False
    assert found[("query", "token")]["required"] is False  # one of the two is
    assert "conflicting_token" in found[("query", "token")]["description"]


def test_the_access_log_never_sees_a_header_token(
    client: TestClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="atende_logs.access"):
        response = _cards(client, tenant, {"size": "1"}, tenant.token)
    assert response.status_code == 200, response.text
    lines = [r.getMessage() for r in caplog.records if r.name == "atende_logs.access"]
    assert len(lines) == 1 and '"status":200' in lines[0]
    assert tenant.token not in lines[0]
    assert tenant.token[len("atl_dlr_") :] not in "".join(r.getMessage() for r in caplog.records)
