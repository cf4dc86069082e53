"""Loading the demo data set through the ordinary ingest path."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import orjson

from atende_logs import demo_documents
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.readers import Record
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS
from atende_logs.models import Customer, Dialer, IngestResult, SearchQuery
from atende_logs.normalize import instant_ms
from atende_logs.storage.base import Store

DEMO_CUSTOMER = "Demo Call Center"
DEMO_DIALER = "Discador demo"


@dataclass(frozen=True)
class DemoAccess:
    """What a demo user needs: the customer, a fresh key and the dialer's fresh token."""

    customer: Customer
    dialer: Dialer
    key: str
    token: str
    plan: demo_documents.DemoPlan
    loaded: dict[str, IngestResult] | None
    """Ingest results per kind when the data set was loaded by this call."""


def as_records(docs: Iterable[dict[str, Any]]) -> Iterator[Record]:
    """Generated documents as reader records, so they take the same path as a file."""
    for position, doc in enumerate(docs, start=1):
        yield Record(position, doc, None)


def _loaded_plan(store: Store, customer_id: int, zone: tzinfo) -> demo_documents.DemoPlan | None:
    """The plan the stored demo data was made with, found from its first CDR.

    The data set covers the 28 days before the day it was loaded; a later run must point
    its examples at those days, not at the weeks before today.
    """
    first = store.search(SearchQuery(kind=CDRS, customer_id=customer_id, size=1))
    if not first.items:
        return None
    start_ms = instant_ms(orjson.loads(first.items[0])["ori_start_time"], zone)
    return demo_documents.default_plan(
        datetime.fromtimestamp(start_ms / 1000, UTC) + timedelta(days=28)
    )


def prepare_demo(
    store: Store, zone: tzinfo, plan: demo_documents.DemoPlan | None = None
) -> DemoAccess | None:
    """Set up the demo customer and its data when the database is empty.

    On a database that already holds the demo customer, mint a new key and rotate the
    dialer token (secrets are stored as hashes, so the old ones cannot be shown again).
    Returns None when the database holds other customers only: it is not ours to fill.
    """
    plan = plan or demo_documents.default_plan()
    customers = store.list_customers()
    existing = next((c for c in customers if c.name == DEMO_CUSTOMER), None)
    loaded = None
    if existing is None and customers:
        return None
    if existing is None:
        customer = store.create_customer(DEMO_CUSTOMER)
        dialer, token = store.create_dialer(customer.id, DEMO_DIALER)
        loaded = {
            kind.name: ingest(
                store,
                customer.id,
                kind,
                as_records(docs),
                zone=zone,
                dialer_id=dialer.id if kind.scope.by_dialer else None,
            )
            for kind, docs in (
                (ATTENDANT_LOGS, demo_documents.attendant_logs(plan)),
                (CDRS, demo_documents.cdrs(plan)),
                (CARDS, demo_documents.cards(plan)),
            )
        }
    else:
        customer = existing
        dialer = store.list_dialers(customer.id)[0]
        token = store.rotate_dialer_token(customer.id, dialer.id)
        plan = _loaded_plan(store, customer.id, zone) or plan
    _, key = store.create_api_key(customer.id)
    return DemoAccess(customer, dialer, key, token, plan, loaded)
