"""Data and clients shared by the export tests (issue 4): tenants, documents, and the two
ways to read a listing, the JSON pages and an export, each done the way a client does it.

Expectations come from the JSON pages (the contract tested on its own in
test_pagination.py) or from the documents built here, never from the export code.
"""

from __future__ import annotations

import copy
import csv
import io
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi.testclient import TestClient

from atende_logs.http.openapi import example_page
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.readers import Record
from atende_logs.kinds import KINDS
from atende_logs.storage import Store

Doc = dict[str, Any]
PATHS = {name: kind.path for name, kind in KINDS.items()}
ID_FIELD = {name: kind.id_field for name, kind in KINDS.items()}
TIME_FIELD = {name: kind.time_field for name, kind in KINDS.items()}
BASE_MS = 1_580_164_093_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Per kind, a filter and its values: documents get them at random.
FILTERS: dict[str, tuple[str, str, list[str]]] = {  # kind: (parameter, field, values)
    "attendant-logs": ("source", "source", ["voip", "web"]),
    "cdrs": ("call_status", "call_status", ["abandoned", "answered"]),
    "cards": ("status", "status", ["to_call", "called"]),
}


@dataclass(frozen=True)
class Tenant:
    customer_id: int
    key: str
    dialer_id: int
    token: str


def new_tenant(store: Store) -> Tenant:
    """A fresh customer with a key and a dialer (usable inside @given bodies)."""
    customer = store.create_customer(f"export {uuid.uuid4().hex[:8]}")
    _, key = store.create_api_key(customer.id)
    dialer, token = store.create_dialer(customer.id, "discador")
    return Tenant(customer.id, key, dialer.id, token)


def iso(ms: int) -> str:
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")[:-6] + "Z"


def example(kind_name: str) -> Doc:
    item: Doc = example_page(KINDS[kind_name])["items"][0]
    return item


def make_docs(kind_name: str, times: list[int], rng: random.Random, prefix: str = "") -> list[Doc]:
    """One document per time (epoch ms), from the kind's example, with a unique id, the
    filter field at random and accented text, as customers' data has."""
    parameter, field, values = FILTERS[kind_name]
    docs = []
    for n, ms in enumerate(times):
        doc = copy.deepcopy(example(kind_name))
        doc[ID_FIELD[kind_name]] = f"{prefix}{rng.randrange(10**6)}-{n}"
        doc[TIME_FIELD[kind_name]] = iso(ms)
        doc[field] = rng.choice(values)
        if kind_name == "cards":
            doc["card_info_1"] = rng.choice(["Almoço", "NÃO", 'dois "aspas"; e,vírgula'])
        docs.append(doc)
    return docs


def put(store: Store, tenant: Tenant, kind_name: str, docs: list[Doc]) -> None:
    """Store ``docs`` through the ingest library, as an import would."""
    kind = KINDS[kind_name]
    dialer_id = tenant.dialer_id if kind.scope.by_dialer else None
    records = [Record(n + 1, dict(doc, token=tenant.token) if dialer_id else doc, None)
               for n, doc in enumerate(docs)]  # fmt: skip
    result = ingest(store, tenant.customer_id, kind, records, zone=UTC, dialer_id=dialer_id)
    assert result.rejected == 0, result.rejections


def with_token(tenant: Tenant, kind_name: str, params: dict[str, str]) -> dict[str, str]:
    return {"token": tenant.token, **params} if KINDS[kind_name].scope.by_dialer else dict(params)


def pages(
    client: TestClient, tenant: Tenant, kind_name: str, params: dict[str, str], size: int = 7
) -> list[Doc]:
    """Every item of the listing, through the JSON pages, as the README's client reads them."""
    query = with_token(tenant, kind_name, {**params, "size": str(size)})
    items: list[Doc] = []
    while True:
        response = client.get(PATHS[kind_name], params=query, headers={"x-api-key": tenant.key})
        assert response.status_code == 200, response.text
        page = response.json()
        if not page["items"]:
            return items
        items += page["items"]
        query["after"] = str(page["after"])


def export(
    client: TestClient,
    tenant: Tenant,
    kind_name: str,
    params: dict[str, str],
    headers: dict[str, str] | None = None,
) -> Any:
    """The response of an export request (status checked by the caller)."""
    query = with_token(tenant, kind_name, params)
    return client.get(
        PATHS[kind_name], params=query, headers={"x-api-key": tenant.key, **(headers or {})}
    )


def ndjson_items(body: bytes) -> list[Doc]:
    assert body == b"" or body.endswith(b"\n")
    return [orjson.loads(line) for line in body.split(b"\n")[:-1]]


def csv_rows(body: bytes, delimiter: str = ",") -> list[list[str]]:
    text = body.decode("utf-8").removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def same_items(got: list[Doc], expected: list[Doc]) -> None:
    """Equal, item for item, keys in the same order."""
    assert got == expected
    assert [list(item) for item in got] == [list(item) for item in expected]
