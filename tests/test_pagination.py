"""The pagination contract of issue 2, tested hardest, on both databases.

Expectations are computed here in Python from the generated documents: filter, then sort
by (epoch milliseconds, id as text). Documents are built from epoch milliseconds, so the
expected time of each never goes through the service's own parsing.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from atende_logs.models import Customer
from atende_logs.storage import Store

Doc = dict[str, Any]
CDRS = "/customers/cdrs/logs"
ATTENDANTS = "/customers/attendants/logs"
CARDS = "/customers/dialer-queue/cards"
MASK = "****************"
BASE_MS = 1_580_164_093_000  # the spec's CDR example: 2020-01-27T19:28:13-03:00
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OFFSETS = [UTC, timezone(timedelta(hours=-3)), timezone(timedelta(hours=5, minutes=30))]

# kind -> (search path, ingest slug, id field, time field, filterable fields and their pools)
KINDS: dict[str, tuple[str, str, str, str, dict[str, list[str]]]] = {
    "cdrs": (
        CDRS,
        "cdrs",
        "callid",
        "ori_start_time",
        {
            "call_status": ["abandoned", "answered"],
            "period": ["worktime", "offtime"],
            "call_terminated": ["A", "B"],
        },
    ),
    "attendant-logs": (
        ATTENDANTS,
        "attendant-logs",
        "id",
        "timestamp",
        {"source": ["voip", "web"], "screen": ["busy", "pause"], "kind": ["status", "call"]},
    ),
}


@pytest.fixture(scope="session")
def ingest_key(store: Store) -> str:
    return store.create_ingest_key(f"pagination {uuid.uuid4().hex[:8]}")[1]


def iso(ms: int, offset: timezone = UTC, fraction: bool = True) -> str:
    """``ms`` as ISO-8601 text in ``offset``; without fraction only for whole seconds."""
    moment = (_EPOCH + timedelta(milliseconds=ms)).astimezone(offset)
    text = moment.isoformat(timespec="milliseconds" if fraction or ms % 1000 else "seconds")
    return text.replace("+00:00", "Z") if offset is UTC else text


def new_tenant(store: Store) -> tuple[int, str]:
    """A fresh customer and a live key of it (usable inside @given bodies)."""
    customer = store.create_customer(f"pagination {uuid.uuid4().hex[:8]}")
    return customer.id, store.create_api_key(customer.id)[1]


def ingest(client: TestClient, key: str, url: str, docs: list[Doc]) -> None:
    body = "\n".join(json.dumps(doc) for doc in docs).encode()
    response = client.post(
        url, content=body, headers={"x-ingest-key": key, "content-type": "application/x-ndjson"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": len(docs), "replaced": 0, "rejected": 0, "rejections": []}


def get(client: TestClient, path: str, key: str, params: dict[str, Any]) -> Doc:
    response = client.get(path, params=params, headers={"x-api-key": key})
    assert response.status_code == 200, response.text
    body: Doc = response.json()
    return body


def walk(
    client: TestClient, path: str, key: str, params: dict[str, Any], after: Any = None
) -> list[Doc]:
    """Every page of a listing, as a client does it: pass each after back until empty."""
    pages: list[Doc] = []
    while True:
        query = dict(params) if after is None else {**params, "after": str(after)}
        page = get(client, path, key, query)
        pages.append(page)
        if not page["items"]:
            return pages
        after = page["after"]
        assert after is not None, "a non-empty page must carry an after"
        assert len(pages) <= 5000, "the listing never ends"


def check_listing(
    pages: list[Doc], expected: list[Doc], keys: list[tuple[int, str]], size: int
) -> None:
    """Every clause of the contract, for one complete listing.

    ``expected`` are the documents in order and ``keys`` their (epoch ms, id text).
    """
    items = [item for page in pages for item in page["items"]]
    assert items == expected  # exactly once, in order, stored whole
    assert [page["total"] for page in pages] == [len(expected)] * len(pages)
    assert pages[-1] == {"total": len(expected), "after": None, "items": []}
    body = pages[:-1]
    assert [len(page["items"]) for page in body[:-1]] == [size] * (len(body) - 1)
    assert all(1 <= len(page["items"]) <= size for page in body[-1:])
    end = 0
    for page in body:
        end += len(page["items"])
        last_ms = keys[end - 1][0]
        tied = end < len(keys) and keys[end][0] == last_ms
        after = page["after"]
        if tied:
            assert isinstance(after, str), (end, after)
        else:
            assert type(after) is int and after == last_ms, (end, after, last_ms)


# ----------------------------------------------------------------------------------------
# 1. Property: random data with heavy ties, random filters, random sizes.

_ID = st.one_of(
    st.integers(0, 10**7).map(str),  # numeric-looking, of every length: "10" < "9"
    st.from_regex(r"0[0-9]{0,3}", fullmatch=True),
    st.text(alphabet="aAbBzZ09-_.~éÃ€😀", min_size=1, max_size=6),
)
_CANDIDATE_OFFSETS = [0, 1, 2, 999, 1000, 1001, 2000, 3000, 60_000, 86_400_000]


@st.composite
def scenarios(draw: st.DrawFn) -> Doc:
    kind = draw(st.sampled_from(sorted(KINDS)))
    _, _, id_field, time_field, pools = KINDS[kind]
    pool = draw(st.lists(st.sampled_from(_CANDIDATE_OFFSETS), min_size=1, max_size=6, unique=True))
    pool_ms = [BASE_MS + offset for offset in pool]
    any_ms = st.integers(BASE_MS - 10**9, BASE_MS + 10**9)
    time_ms = st.one_of(*[st.sampled_from(pool_ms)] * 4, any_ms)
    docs: list[Doc] = []
    keys: list[tuple[int, str]] = []
    for seq, doc_id in enumerate(draw(st.lists(_ID, max_size=40, unique=True))):
        ms = draw(time_ms)
        as_int = doc_id.isdigit() and str(int(doc_id)) == doc_id and draw(st.booleans())
        doc: Doc = {
            id_field: int(doc_id) if as_int else doc_id,
            time_field: iso(ms, draw(st.sampled_from(_OFFSETS)), draw(st.booleans())),
            "seq": seq,
        }
        for name, values in pools.items():
            value = draw(st.sampled_from([*values, None, "missing"]))
            if value != "missing":
                doc[name] = value
        docs.append(doc)
        keys.append((ms, doc_id))

    params: Doc = {}
    wanted: dict[str, str] = {}
    for name, values in pools.items():
        value = draw(st.none() | st.sampled_from([*values, "nomatch"]))
        if value is not None:
            params[name] = wanted[name] = value
    # Bounds land on tied instants (or one millisecond either side) most of the time.
    near = st.tuples(st.sampled_from(pool_ms), st.sampled_from([0, 0, -1, 1])).map(sum)
    start, end = draw(st.none() | near | any_ms), draw(st.none() | near | any_ms)
    if start is not None and end is not None and start > end:
        start, end = end, start
    for name, ms in (("start_at", start), ("end_at", end)):
        if ms is not None:
            params[name] = draw(st.sampled_from([str(ms), iso(ms)]))

    chosen = sorted(
        (
            (key, doc)
            for key, doc in zip(keys, docs, strict=True)
            if (start is None or key[0] >= start)
            and (end is None or key[0] <= end)
            and all(doc.get(name) == value for name, value in wanted.items())
        ),
        key=lambda pair: (pair[0][0], pair[0][1].zfill(9)),
    )
    size = draw(st.one_of(st.integers(1, 12), st.integers(1, 12), st.sampled_from([40, 999, 1000])))
    return {
        "kind": kind,
        "docs": docs,
        "expected": [doc for _, doc in chosen],
        "keys": [key for key, _ in chosen],
        "params": {**params, "size": size},
        "size": size,
    }


@settings(max_examples=40)
@given(scenario=scenarios(), noise=st.lists(st.integers(0, 10**6), max_size=3, unique=True))
def test_random_listings_are_complete_ordered_and_exact(
    client: TestClient, store: Store, ingest_key: str, scenario: Doc, noise: list[int]
) -> None:
    path, slug, id_field, time_field, _ = KINDS[scenario["kind"]]
    customer_id, key = new_tenant(store)
    ingest(client, ingest_key, f"/ingest/customers/{customer_id}/{slug}", scenario["docs"])
    # Another tenant's documents at the busiest instant must never show up.
    other_id, _ = new_tenant(store)
    ingest(
        client,
        ingest_key,
        f"/ingest/customers/{other_id}/{slug}",
        [{id_field: f"n{n}", time_field: iso(BASE_MS)} for n in noise],
    )
    pages = walk(client, path, key, scenario["params"])
    check_listing(pages, scenario["expected"], scenario["keys"], scenario["size"])
