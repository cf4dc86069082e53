"""Resuming after the last item received (issue 4), on both databases.

A client whose export dropped names the last item it got, ``after=id:<its id>`` (or, for a
card stored without an id, ``after=card:<number>@<timestamp>``), and must get exactly the
rest: nothing lost, nothing repeated, in pages and exports alike. A customer can never
resolve another customer's item.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from _export_data import (
    BASE_MS,
    FILTERS,
    ID_FIELD,
    Doc,
    Tenant,
    csv_rows,
    export,
    iso,
    make_docs,
    ndjson_items,
    new_tenant,
    pages,
    put,
    same_items,
)
from atende_logs.export import stream
from atende_logs.export.columns import csv_cell, flatten
from atende_logs.kinds import KINDS
from atende_logs.storage import Store

OFFSETS = [0, 0, 0, 1, 2, 999, 1000, 60_000]


def _rest(
    client: TestClient, tenant: Tenant, kind_name: str, params: dict[str, str], fmt: str
) -> list[Any]:
    """The listing after ``params["after"]``, as items (json, ndjson) or CSV rows."""
    if fmt == "json":
        return pages(client, tenant, kind_name, params, size=3)
    response = export(client, tenant, kind_name, {**params, "format": fmt})
    assert response.status_code == 200, response.text
    return ndjson_items(response.content) if fmt == "ndjson" else csv_rows(response.content)[1:]


def _check(kind_name: str, fmt: str, got: list[Any], expected: list[Doc]) -> None:
    if fmt == "csv":
        assert got == [[csv_cell(v) for v in flatten(KINDS[kind_name], item)] for item in expected]
    else:
        same_items(got, expected)


@settings(max_examples=40)
@given(
    kind_name=st.sampled_from(["attendant-logs", "cdrs", "cards"]),
    fmt=st.sampled_from(["json", "ndjson", "csv"]),
    offsets=st.lists(st.sampled_from(OFFSETS), min_size=1, max_size=20),
    seed=st.integers(0, 2**32),
    filtered=st.booleans(),
    data=st.data(),
)
def test_resuming_after_any_item_gives_exactly_the_rest(
    client: TestClient,
    store: Store,
    kind_name: str,
    fmt: str,
    offsets: list[int],
    seed: int,
    filtered: bool,
    data: st.DataObject,
) -> None:
    tenant = new_tenant(store)
    put(
        store,
        tenant,
        kind_name,
        make_docs(kind_name, [BASE_MS + o for o in offsets], random.Random(seed)),
    )
    parameter, _, values = FILTERS[kind_name]
    params = {parameter: values[0]} if filtered else {}
    everything = pages(client, tenant, kind_name, params)
    assume(everything)
    last = data.draw(st.integers(0, len(everything) - 1), label="last received")
    params["after"] = f"id:{everything[last][ID_FIELD[kind_name]]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stream, "CHUNK_ROWS", data.draw(st.integers(1, 4), label="chunk rows"))
        got = _rest(client, tenant, kind_name, params, fmt)
    _check(kind_name, fmt, got, everything[last + 1 :])


# Cards stored without an id: the client names one by its own number and timestamp -------


def _spelled(number: int) -> str:
    text = str(number)
    return f"+55 ({text[:2]}) {text[2:7]}-{text[7:]}"


NUMBERS = st.one_of(
    st.integers(5521900000000, 5521999999999),  # a JSON number
    st.integers(21900000000, 21999999999).map(_spelled),
    st.integers(0, 10**6).map(str),
    st.just(None),
    st.just(""),
)
TIMESTAMPS = st.sampled_from(["utc", "offset", "ms"])


def _timestamp(ms: int, form: str) -> Any:
    if form == "ms":
        return ms  # a JSON number: epoch milliseconds
    if form == "utc":
        return iso(ms)
    return iso(ms - 3 * 3_600_000).replace("Z", "-03:00")


def _json_text(value: Any) -> str:
    """A field as the client writes it into the URL: text as is, a number as digits."""
    return "" if value is None else value if isinstance(value, str) else str(value)


@settings(max_examples=40)
@given(
    cards=st.lists(
        st.tuples(NUMBERS, st.sampled_from(OFFSETS), TIMESTAMPS), min_size=1, max_size=15
    ),
    fmt=st.sampled_from(["json", "ndjson", "csv"]),
    data=st.data(),
)
def test_resuming_after_a_card_without_id(
    client: TestClient,
    store: Store,
    cards: list[tuple[Any, int, str]],
    fmt: str,
    data: st.DataObject,
) -> None:
    # Two cards of one millisecond, one with a null number and one with an empty one, both
    # read "card:@<timestamp>": tested on their own below.
    assume(not any(a[1] == b[1] and {a[0], b[0]} == {None, ""} for a in cards for b in cards))
    tenant = new_tenant(store)
    docs: list[Doc] = []
    for number, offset, form in cards:
        doc = make_docs("cards", [BASE_MS + offset], random.Random(offset))[0]
        del doc["id"]
        doc.update(number=number, timestamp=_timestamp(BASE_MS + offset, form))
        docs.append(doc)
    put(store, tenant, "cards", docs)
    everything = pages(client, tenant, "cards", {})
    last = everything[data.draw(st.integers(0, len(everything) - 1), label="last received")]
    after = f"card:{_json_text(last['number'])}@{_json_text(last['timestamp'])}"
    got = _rest(client, tenant, "cards", {"after": after}, fmt)
    _check("cards", fmt, got, everything[everything.index(last) + 1 :])


def test_two_numberless_cards_in_one_millisecond_may_repeat_but_never_lose(
    client: TestClient, store: Store
) -> None:
    """The one ambiguous ``card:`` form resumes after the first of the two it may name: a
    client that got the second gets it again, and loses nothing."""
    tenant = new_tenant(store)
    docs = make_docs("cards", [BASE_MS] * 2 + [BASE_MS + 1], random.Random(5))
    for doc, number in zip(docs, [None, "", "5521"], strict=True):
        del doc["id"]
        doc["number"] = number
    put(store, tenant, "cards", docs)
    everything = pages(client, tenant, "cards", {})
    assert {everything[0]["number"], everything[1]["number"]} == {None, ""}
    got = _rest(client, tenant, "cards", {"after": f"card:@{iso(BASE_MS)}"}, "ndjson")
    assert got == everything[1:]


# Pages take the new form too, and carry on with their own after --------------------------


def test_a_page_after_an_item_then_its_own_after(client: TestClient, store: Store) -> None:
    tenant = new_tenant(store)
    put(store, tenant, "cdrs", make_docs("cdrs", [BASE_MS] * 7, random.Random(7)))
    everything = pages(client, tenant, "cdrs", {})
    params = {"after": f"id:{everything[1]['callid']}", "size": "2"}
    first = client.get("/customers/cdrs/logs", params=params, headers={"x-api-key": tenant.key})
    body = first.json()
    assert (body["total"], body["items"]) == (7, everything[2:4])
    params["after"] = str(body["after"])
    second = client.get("/customers/cdrs/logs", params=params, headers={"x-api-key": tenant.key})
    assert second.json()["items"] == everything[4:6]


# Tenancy ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind_name", ["attendant-logs", "cdrs", "cards"])
@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_no_customer_resolves_another_customers_item(
    client: TestClient, store: Store, kind_name: str, fmt: str
) -> None:
    """A and B share some ids at different times; A alone has others."""
    a, b = new_tenant(store), new_tenant(store)
    id_field = ID_FIELD[kind_name]
    shared_a = make_docs(kind_name, [BASE_MS + 10, BASE_MS + 20], random.Random(1), "s")
    shared_b = make_docs(kind_name, [BASE_MS + 30, BASE_MS], random.Random(1), "s")
    only_a = make_docs(kind_name, [BASE_MS + 5], random.Random(2), "a")
    mine_b = make_docs(kind_name, [BASE_MS + 1, BASE_MS + 40], random.Random(3), "b")
    put(store, a, kind_name, shared_a + only_a)
    put(store, b, kind_name, shared_b + mine_b)
    assert [d[id_field] for d in shared_a] == [d[id_field] for d in shared_b]

    refused = export(client, b, kind_name, {"after": f"id:{only_a[0][id_field]}", "format": fmt})
    assert (refused.status_code, refused.json()["error"]["parameter"]) == (400, "after")

    everything_b = pages(client, b, kind_name, {})
    shared = shared_b[0][id_field]  # B's copy is at +30, A's at +10: B's position counts
    position = [item[id_field] for item in everything_b].index(shared)
    got = _rest(client, b, kind_name, {"after": f"id:{shared}"}, fmt)
    _check(kind_name, fmt, got, everything_b[position + 1 :])
    assert position == len(everything_b) - 2


def test_a_card_id_of_another_dialer_is_refused(client: TestClient, store: Store) -> None:
    tenant = new_tenant(store)
    other_dialer, other_token = store.create_dialer(tenant.customer_id, "outro")
    put(store, tenant, "cards", make_docs("cards", [BASE_MS], random.Random(4), "k"))
    card = pages(client, tenant, "cards", {})[0]
    for after in [f"id:{card['id']}", f"card:{card['number']}@{card['timestamp']}"]:
        response = client.get(
            "/customers/dialer-queue/cards",
            params={"token": other_token, "after": after},
            headers={"x-api-key": tenant.key},
        )
        assert (response.status_code, response.json()["error"]["parameter"]) == (400, "after")
    assert other_dialer.customer_id == tenant.customer_id
