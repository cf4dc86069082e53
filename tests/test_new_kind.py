"""A fourth kind is one ``Kind`` value and its table, and then everything works for it.

The kind below is made up here, with field names no real kind has, and chooses each policy
both ways (a customer's or a dialer's documents, masked or not, ids required or derived,
erasure redacting or deleting). Its table is made by the call its migration would make
(``create_log_table``) in the test database; then, on both databases, its documents are
ingested, paged through over HTTP with ``after`` (the pagination contract's checks, from
tests/test_pagination.py), exported, filtered, erased and purged. Its documents go in
through its own ingest endpoint, made from the kind as the app makes every kind's.

What a real kind has that this one borrows: an example of its own (it points at the CDRs'),
and its docs.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient

from atende_logs import normalize, retention
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.routes.ingest import ingest_router
from atende_logs.http.routes.logs import search_router
from atende_logs.ingest.documents import TOKEN_MASK
from atende_logs.kinds import KINDS, FilterSpec, Flat, Kind, Scope, exact_filter, phone_filter
from atende_logs.storage import Store
from atende_logs.storage.migrate import sqlalchemy_url
from atende_logs.storage.migrations.log_tables import create_log_table, drop_log_table
from test_pagination import check_listing, walk

BASE_MS = 1_700_000_000_000
DAY_MS = 86_400_000
PHONE = "+55 (11) 98765-4321"
NATIONAL = "11987654321"


def note_kind(scope: Scope) -> Kind:
    """A kind of notes, a customer's or a dialer's; a dialer's choose every other policy
    the way cards do, a customer's the way CDRs do."""
    by_dialer = scope is Scope.DIALER
    name = f"test-notes-{scope.name.lower()}"
    return Kind(
        name=name,
        table=name.replace("-", "_"),
        path=f"/customers/{name}",
        time_field="written_at",
        id_field="note_id",
        filters=(
            exact_filter("topic", "topic", description="Assunto", example="billing"),
            phone_filter("phone", (("phone",),), "`phone`", "Telefone"),
            FilterSpec(
                "priority",
                "priority",
                "integer",
                "=",
                normalize.integer,
                (("priority",),),
                "Prioridade",
                "`priority` equals the value.",
                "2",
            ),
            FilterSpec(
                "score",
                "score",
                "real",
                ">=",
                normalize.number,
                (("score",),),
                "Nota mínima",
                "`score` is at least the value.",
                "4.5",
            ),
        ),
        flat=Flat(
            columns=(
                "note_id",
                "written_at",
                "topic",
                "phone",
                "contact.name",
                "priority",
                "score",
            ),
            integers=("priority",),
            times=("written_at",),
        ),
        label="note",
        summary="Notas",
        description="API de consulta de notas",
        example_file="example-cdrs.json",
        scope=scope,
        masked_fields=("secret",) if by_dialer else (),
        derived_id_from="phone" if by_dialer else None,
        accepts_csv=by_dialer,
        erasure="delete" if by_dialer else "redact",
    )


@contextmanager
def registered(kind: Kind, database_url: str) -> Iterator[None]:
    """``kind`` in ``KINDS``, with its table made by its migration's call, until the end."""
    engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.NullPool)

    def migrate(step: Any) -> None:
        with engine.begin() as connection:
            with Operations.context(MigrationContext.configure(connection)):
                step()

    columns = [(spec.column, spec.column_type) for spec in kind.stored_filters]
    migrate(lambda: create_log_table(kind.table, scope=kind.scope.columns, columns=columns))
    KINDS[kind.name] = kind
    try:
        yield
    finally:
        del KINDS[kind.name]
        migrate(lambda: drop_log_table(kind.table))
        engine.dispose()


def notes(count: int) -> list[dict[str, Any]]:
    """Notes whose times tie in bunches; every fifth holds the phone number in ``phone``,
    one more in a nested note."""
    docs = []
    for n in range(count):
        doc: dict[str, Any] = {
            "note_id": f"{n * 7919 % 1000}",  # distinct, in another order than time's
            "written_at": BASE_MS + (n % 6) * 1000,
            "topic": "billing" if n % 3 else "support",
            "phone": PHONE if n % 5 == 0 else f"+55 21 3{n:03d}-0000",
            "contact": {"name": f"cliente {n}", "note": f"ligar para {PHONE}" if n == 3 else ""},
            "priority": n % 4,
            "score": n / 10,
            "secret": f"s{n}",
        }
        docs.append(doc)
    return docs


def stored_id(kind: Kind, doc: dict[str, Any], dialer_id: int | None) -> str:
    if kind.id_field in doc:
        return str(doc[kind.id_field])
    field = kind.derived_id_from
    assert field is not None
    return normalize.derived_card_id(dialer_id, doc.get(field), doc[kind.time_field])


def check_ingest_operation(document: dict[str, Any], kind: Kind) -> None:
    """The kind's ingest operation is documented as its route takes it: its path, its ids,
    its key, its media types."""
    operation = document["paths"]["/ingest" + kind.ingest_path]["post"]
    ids = ["customer_id", "dialer_id"] if kind.scope.by_dialer else ["customer_id"]
    assert [parameter["name"] for parameter in operation["parameters"]] == ids
    assert operation["security"] == [{"IngestKey": []}]
    media = ["application/x-ndjson", "application/json"] + ["text/csv"] * kind.accepts_csv
    assert list(operation["requestBody"]["content"]) == media
    assert f"identified by `{kind.id_field}`" in operation["description"]


def ingest_over_http(
    client: TestClient,
    key: str,
    kind: Kind,
    customer_id: int,
    dialer_id: int | None,
    docs: list[dict[str, Any]],
) -> None:
    """``docs`` stored through the kind's ingest endpoint, which takes CSV only if the kind
    does, and no request without a body."""
    path = "/ingest" + kind.ingest_path.format(customer_id=customer_id, dialer_id=dialer_id)
    sent = {"x-ingest-key": key}
    body = b"".join(orjson.dumps(doc) + b"\n" for doc in docs)
    answer = client.post(path, content=body, headers=sent).json()
    assert answer == {"stored": len(docs), "replaced": 0, "rejected": 0, "rejections": []}
    header_only = b"note_id,written_at\n"  # a batch of no record
    as_csv = client.post(path, content=header_only, headers={**sent, "content-type": "text/csv"})
    assert as_csv.status_code == (200 if kind.accepts_csv else 415)
    assert client.post(path, headers=sent).json()["error"]["code"] == "empty_body"


@pytest.mark.parametrize("scope", list(Scope), ids=lambda scope: scope.name.lower())
def test_a_new_kind_is_stored_paged_exported_erased_and_purged(
    store: Store, database_url: str, app_settings: Settings, scope: Scope
) -> None:
    kind = note_kind(scope)
    with registered(kind, database_url):
        customer = store.create_customer(f"notes {uuid.uuid4().hex[:8]}")
        api_key = store.create_api_key(customer.id)[1]
        dialer_id, params = None, {}
        if kind.scope.by_dialer:
            dialer, token = store.create_dialer(customer.id, "notes")
            dialer_id, params = dialer.id, {"token": token}
        docs = notes(40)
        if kind.derived_id_from:
            for doc in docs[::7]:
                del doc["note_id"]  # identified by its phone and time instead

        app = create_app(app_settings, store=store)
        # As the app's own routers hold every kind of KINDS.
        app.include_router(search_router([kind]))
        app.include_router(ingest_router([kind]))
        with TestClient(app) as client:
            check_ingest_operation(client.get("/openapi.json").json(), kind)
            ingest_key = store.create_ingest_key(f"notes {uuid.uuid4().hex[:8]}")[1]
            ingest_over_http(client, ingest_key, kind, customer.id, dialer_id, docs)

        served = [{**doc, **dict.fromkeys(kind.masked_fields, TOKEN_MASK)} for doc in docs]
        order = sorted(
            range(len(docs)),
            key=lambda i: (docs[i]["written_at"], stored_id(kind, docs[i], dialer_id)),
        )
        expected = [served[i] for i in order]
        keys = [(docs[i]["written_at"], stored_id(kind, docs[i], dialer_id)) for i in order]

        with TestClient(app) as client:
            # Its searches spend the key's quota like any kind's.
            searched = client.get(kind.path, params=params, headers={"x-api-key": api_key})
            assert searched.status_code == 200
            assert '"api";q=' in searched.headers["ratelimit-policy"]
            for size in (1, 7, 1000):
                pages = walk(client, kind.path, api_key, {**params, "size": size})
                check_listing(pages, expected, keys, size)
            filtered = walk(client, kind.path, api_key, {**params, "topic": "support", "size": 3})
            support = [doc for doc in expected if doc["topic"] == "support"]
            assert [item for page in filtered for item in page["items"]] == support
            assert filtered[0]["total"] == len(support)
            high = client.get(
                kind.path,
                params={**params, "score": "3", "priority": "1"},
                headers={"x-api-key": api_key},
            ).json()
            assert high["items"] == [d for d in expected if d["score"] >= 3 and d["priority"] == 1]
            exported = client.get(
                kind.path, params={**params, "format": "csv"}, headers={"x-api-key": api_key}
            )
            rows = list(csv.reader(io.StringIO(exported.text)))
            assert rows[0] == [*kind.flat.columns, "extra"]
            assert [row[0] for row in rows[1:]] == [doc.get("note_id", "") for doc in expected]
            spec = client.get("/openapi.json").json()["paths"][kind.path]["get"]
            assert (spec["summary"], spec["description"]) == (kind.summary, kind.description)

        holding = [doc for doc in docs if PHONE in orjson.dumps(doc).decode()]
        erasure = store.erase_phone(customer.id, "011 98765-4321", "the test")
        assert erasure.counts[kind.name] == len(holding)
        assert store.list_erasures(customer.id) == [erasure]
        with TestClient(app) as client:
            left = walk(client, kind.path, api_key, {**params, "size": 1000})
        items = [item for page in left for item in page["items"]]
        assert NATIONAL not in orjson.dumps(items).decode().replace(" ", "")
        kept = len(docs) - len(holding) if kind.erasure == "delete" else len(docs)
        assert len(items) == left[0]["total"] == kept

        purged = retention.purge(
            store, default_days=1, customer_id=customer.id, now_ms=BASE_MS + 2 * DAY_MS, pause_s=0
        )
        assert [(p.kind, p.deleted) for p in purged if p.kind == kind.name] == [(kind.name, kept)]
