"""Ingest keys write only inside their scope (issue 21, finding 2.4): a key scoped to some
customers, or kinds, gets 403 elsewhere, before its body is read and whether or not the
customer exists; every batch, and every refusal, leaves an audit line naming the key. On
both databases."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from atende_logs.kinds import KINDS
from atende_logs.models import Customer, IngestScope
from atende_logs.storage import Store

NDJSON = "application/x-ndjson"
AUDIT = "atende_logs.ingest"


def _cdr(callid: str, charge: str) -> bytes:
    doc = {"callid": callid, "ori_start_time": "2024-03-05T10:00:00Z", "total_charge": charge}
    return orjson.dumps(doc) + b"\n"


def _post(
    client: TestClient, key: str, customer_id: int, kind: str = "cdrs", **options: Any
) -> Any:
    path = f"/ingest/customers/{customer_id}/{kind}"
    headers = {"x-ingest-key": key, "content-type": options.pop("content_type", NDJSON)}
    headers |= options.pop("headers", {})
    return client.post(path, content=options.pop("body", _cdr("c1", "1.0")), headers=headers)


@pytest.fixture
def other(store: Store) -> Customer:
    return store.create_customer(f"other {uuid.uuid4().hex[:8]}")


def _scoped_key(store: Store, *customers: int, kinds: frozenset[str] | None = None) -> str:
    scope = IngestScope(customers=frozenset(customers), kinds=kinds)
    return store.create_ingest_key(f"scoped {uuid.uuid4().hex[:6]}", scope)[1]


def _no_such_customer(store: Store) -> int:
    return max(c.id for c in store.list_customers()) + 1000


def test_a_key_writes_to_its_customers_only(
    client: TestClient, store: Store, customer: Customer, other: Customer, api_key: str
) -> None:
    key = _scoped_key(store, customer.id)
    assert _post(client, key, customer.id).status_code == 200
    denied = _post(client, key, other.id, body=_cdr("c1", "999.0"))
    assert denied.status_code == 403, denied.text
    error = denied.json()["error"]
    assert (error["status"], error["code"]) == (403, "forbidden")
    assert error["request_id"] == denied.headers["x-request-id"]
    # The customer's stored CDR is as its own producer sent it.
    page = client.get("/customers/cdrs/logs", headers={"x-api-key": api_key}).json()
    assert [(d["callid"], d["total_charge"]) for d in page["items"]] == [("c1", "1.0")]


def test_a_customer_outside_the_scope_is_403_whether_it_exists_or_not(
    client: TestClient, store: Store, customer: Customer, other: Customer
) -> None:
    key = _scoped_key(store, customer.id)
    missing = _no_such_customer(store)
    existing, absent = _post(client, key, other.id), _post(client, key, missing)
    assert existing.status_code == absent.status_code == 403

    def shape(response: Any, customer_id: int) -> dict[str, Any]:
        error = dict(response.json()["error"], request_id=None)
        error["message"] = error["message"].replace(str(customer_id), "N")
        return error

    assert shape(existing, other.id) == shape(absent, missing)
    # A key of every customer may learn that a customer does not exist: 404.
    everyone = store.create_ingest_key("every customer")[1]
    assert _post(client, everyone, missing).status_code == 404


def test_refused_before_the_body_is_read(
    client: TestClient, store: Store, customer: Customer, other: Customer
) -> None:
    key = _scoped_key(store, customer.id)
    too_big = {"content-length": str(10**12)}
    assert _post(client, key, other.id, headers=too_big, body=b"").status_code == 403
    assert _post(client, key, other.id, content_type="text/plain").status_code == 403
    assert _post(client, key, customer.id, content_type="text/plain").status_code == 415
    assert _post(client, key, customer.id, headers=too_big, body=b"").status_code == 413


def test_a_key_scoped_to_kinds(
    client: TestClient, store: Store, customer: Customer, other: Customer
) -> None:
    dialer, _ = store.create_dialer(customer.id, "discador")
    key = _scoped_key(store, customer.id, other.id, kinds=frozenset({"cdrs"}))
    assert _post(client, key, other.id).status_code == 200
    log = orjson.dumps({"id": "a1", "timestamp": "2024-03-05T10:00:00Z"})
    assert _post(client, key, customer.id, "attendant-logs", body=log).status_code == 403
    card = orjson.dumps({"number": "5511999999999", "timestamp": "2024-03-05T10:00:00Z"})
    cards = f"dialers/{dialer.id}/cards"
    assert _post(client, key, customer.id, cards, body=card).status_code == 403
    both = _scoped_key(store, customer.id, kinds=frozenset({"cdrs", "cards"}))
    assert _post(client, both, customer.id, cards, body=card).status_code == 200


def test_every_batch_and_refusal_has_an_audit_line(
    client: TestClient,
    store: Store,
    customer: Customer,
    other: Customer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    info, key = store.create_ingest_key("audited", IngestScope(customers=frozenset({customer.id})))
    body = _cdr("a", "1") + _cdr("b", "2") + b"not json\n"
    with caplog.at_level(logging.INFO, logger=AUDIT):
        stored = _post(client, key, customer.id, body=body)
        again = _post(client, key, customer.id, body=_cdr("a", "3"))
        denied = _post(client, key, other.id)
    lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT]
    assert lines == [
        {
            "event": "ingest_batch",
            "ingest_key_id": info.id,
            "customer_id": customer.id,
            "kind": "cdrs",
            "stored": 2,
            "replaced": 0,
            "rejected": 1,
            "request_id": stored.headers["x-request-id"],
        },
        {
            "event": "ingest_batch",
            "ingest_key_id": info.id,
            "customer_id": customer.id,
            "kind": "cdrs",
            "stored": 0,
            "replaced": 1,
            "rejected": 0,
            "request_id": again.headers["x-request-id"],
        },
        {
            "event": "ingest_refused",
            "ingest_key_id": info.id,
            "customer_id": other.id,
            "kind": "cdrs",
            "request_id": denied.headers["x-request-id"],
        },
    ]
    assert [r.levelname for r in caplog.records if r.name == AUDIT] == [
        "INFO",
        "INFO",
        "WARNING",
    ]
    assert all(key not in r.getMessage() for r in caplog.records)


def test_the_cards_audit_line_names_the_dialer(
    client: TestClient, store: Store, customer: Customer, caplog: pytest.LogCaptureFixture
) -> None:
    dialer, _ = store.create_dialer(customer.id, "discador")
    info, key = store.create_ingest_key("cards", IngestScope(customers=frozenset({customer.id})))
    card = orjson.dumps({"number": "5511999999999", "timestamp": "2024-03-05T10:00:00Z"})
    with caplog.at_level(logging.INFO, logger=AUDIT):
        response = _post(client, key, customer.id, f"dialers/{dialer.id}/cards", body=card)
    assert response.status_code == 200, response.text
    (line,) = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT]
    assert (line["ingest_key_id"], line["dialer_id"], line["stored"]) == (info.id, dialer.id, 1)


def test_the_openapi_document_declares_the_403(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for kind in KINDS.values():
        suffix = "dialers/{dialer_id}/cards" if kind.scope.by_dialer else kind.name
        answers = paths[f"/ingest/customers/{{customer_id}}/{suffix}"]["post"]["responses"]
        example = answers["403"]["content"]["application/json"]["example"]
        assert example["error"]["code"] == "forbidden"
