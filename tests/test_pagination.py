"""The pagination contract of issue 2, tested hardest, on both databases.

Expectations are computed here in Python from the generated documents: filter, then sort
by (epoch milliseconds, id as text). Documents are built from epoch milliseconds, so the
expected time of each never goes through the service's own parsing.
"""

from __future__ import annotations

import json
import random
import uuid
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
    if not docs:
        return  # nothing to send: a request without a body is refused
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
    count = draw(st.integers(0, 60) | st.integers(15, 60))
    for seq, doc_id in enumerate(draw(st.lists(_ID, min_size=count, max_size=count, unique=True))):
        ms = draw(time_ms)
        as_int = doc_id.isdigit() and str(int(doc_id)) == doc_id and draw(st.booleans())
        doc: Doc = {
            id_field: int(doc_id) if as_int else doc_id,
            time_field: iso(ms, draw(st.sampled_from(_OFFSETS)), draw(st.booleans())),
            "seq": seq,
        }
        for name, values in pools.items():
            value = draw(st.sampled_from([values[0], *values, None, "missing"]))
            if value != "missing":
                doc[name] = value
        docs.append(doc)
        keys.append((ms, doc_id))

    params: Doc = {}
    wanted: dict[str, str] = {}
    for name, values in pools.items():
        value = draw(st.sampled_from([None] * 9 + [values[0], values[0], *values, "nomatch"]))
        if value is not None:
            params[name] = wanted[name] = value
    # Bounds land on tied instants (or one millisecond either side) most of the time.
    near = st.tuples(st.sampled_from(pool_ms), st.sampled_from([0, 0, -1, 1])).map(sum)
    bound = st.one_of(st.none(), st.none(), st.none(), near, near, any_ms)
    start, end = draw(bound), draw(bound)
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
        key=lambda pair: pair[0],
    )
    size = draw(st.one_of(st.integers(1, 3), st.integers(1, 12), st.sampled_from([40, 999, 1000])))
    return {
        "kind": kind,
        "docs": docs,
        "expected": [doc for _, doc in chosen],
        "keys": [key for key, _ in chosen],
        "params": {**params, "size": size},
        "size": size,
        "probe": draw(near | any_ms),
    }


@settings(max_examples=100)
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
    # A plain number as after: the first page of the items strictly after that millisecond.
    probe, size, keys = scenario["probe"], scenario["size"], scenario["keys"]
    tail = [i for i, (ms, _) in enumerate(keys) if ms > probe][:size]
    page = get(client, path, key, {**scenario["params"], "after": probe})
    assert page["items"] == [scenario["expected"][i] for i in tail]
    assert page["total"] == len(keys)
    if not tail:
        assert page["after"] is None
    elif tail[-1] + 1 < len(keys) and keys[tail[-1] + 1][0] == keys[tail[-1]][0]:
        assert isinstance(page["after"], str)
    else:
        assert page["after"] == keys[tail[-1]][0] and type(page["after"]) is int


# ----------------------------------------------------------------------------------------
# 2. Thousands of items sharing one timestamp.


def varied_ids(rng: random.Random, count: int) -> list[str]:
    """Distinct numeric-looking ids of 1 to 7 digits: text order is not number order."""
    ids: set[str] = set()
    while len(ids) < count:
        ids.add(str(rng.randrange(10 ** rng.randint(1, 7))))
    return rng.sample(sorted(ids), count)


def walk_mixed(
    client: TestClient, path: str, key: str, params: dict[str, Any], first: int, size: int
) -> list[Doc]:
    """Up to ``first`` pages of size 1, then the rest of the listing at ``size``."""
    pages: list[Doc] = []
    after = None
    for _ in range(first):
        page = get(client, path, key, {**params, "size": 1, **({"after": after} if after else {})})
        pages.append(page)
        after = page["after"]
    return pages + walk(client, path, key, {**params, "size": size}, after=after)


def test_three_thousand_cards_sharing_one_timestamp(
    client: TestClient, store: Store, customer: Customer, api_key: str, ingest_key: str
) -> None:
    dialer, token = store.create_dialer(customer.id, "big import")
    rng = random.Random(2)
    docs = [
        {"id": card_id, "number": f"55119{n:08d}", "status": "to_call", "token": "secret",
         "timestamp": "2020-01-31T14:13:29.669Z"}
        for n, card_id in enumerate(varied_ids(rng, 3000))
    ]  # fmt: skip
    ingest(client, ingest_key, f"/ingest/customers/{customer.id}/dialers/{dialer.id}/cards", docs)
    ms = 1_580_480_009_669
    expected = sorted(({**doc, "token": MASK} for doc in docs), key=lambda doc: doc["id"])
    keys = [(ms, doc["id"]) for doc in expected]
    for size in (13, 1000):
        pages = walk(client, CARDS, api_key, {"token": token, "size": size})
        check_listing(pages, expected, keys, size)
    pages = walk_mixed(client, CARDS, api_key, {"token": token}, first=50, size=999)
    items = [item for page in pages for item in page["items"]]
    assert items == expected
    assert [len(page["items"]) for page in pages[:50]] == [1] * 50
    assert all(isinstance(page["after"], str) for page in pages[:50])


def test_csv_card_import_without_ids_pages_exactly_once(
    client: TestClient, store: Store, customer: Customer, api_key: str, ingest_key: str
) -> None:
    dialer, token = store.create_dialer(customer.id, "csv import")
    numbers = [f"5563{n:09d}" for n in random.Random(3).sample(range(10**9), 1500)]
    csv = "number,status,timestamp\n" + "".join(
        f"{number},to_call,2020-01-31T14:13:29.669Z\n" for number in numbers
    )
    response = client.post(
        f"/ingest/customers/{customer.id}/dialers/{dialer.id}/cards",
        content=csv.encode(),
        headers={"x-ingest-key": ingest_key, "content-type": "text/csv"},
    )
    assert response.json() == {"stored": 1500, "replaced": 0, "rejected": 0, "rejections": []}
    listings = []
    for size in (17, 1000):
        pages = walk(client, CARDS, api_key, {"token": token, "size": size})
        items = [item for page in pages for item in page["items"]]
        assert sorted(item["number"] for item in items) == sorted(numbers)  # exactly once
        assert {page["total"] for page in pages} == {1500}
        # One millisecond throughout: every page but the last non-empty one needs a token.
        assert all(isinstance(page["after"], str) for page in pages[:-2])
        assert pages[-2]["after"] == 1_580_480_009_669
        assert pages[-1] == {"total": 1500, "after": None, "items": []}
        listings.append([item["number"] for item in items])
    assert listings[0] == listings[1]  # the tie-break is one fixed order, whatever the size


def test_cdrs_sharing_a_handful_of_whole_seconds(
    client: TestClient, customer: Customer, api_key: str, ingest_key: str
) -> None:
    rng = random.Random(5)
    seconds = [BASE_MS, BASE_MS + 1000, BASE_MS + 2000, BASE_MS + 61_000]
    docs, keys = [], []
    for callid in varied_ids(rng, 2500):
        ms = rng.choice(seconds)
        as_int = callid == str(int(callid)) and rng.random() < 0.5
        docs.append({"callid": int(callid) if as_int else callid,
                     "ori_start_time": iso(ms, rng.choice(_OFFSETS), rng.random() < 0.5),
                     "period": rng.choice(["worktime", "offtime"])})  # fmt: skip
        keys.append((ms, callid))
    ingest(client, ingest_key, f"/ingest/customers/{customer.id}/cdrs", docs)
    order = sorted(range(len(docs)), key=lambda i: keys[i])
    expected, expected_keys = [docs[i] for i in order], [keys[i] for i in order]
    for size in (23, 1000):
        check_listing(walk(client, CDRS, api_key, {"size": size}), expected, expected_keys, size)
    pages = walk_mixed(client, CDRS, api_key, {}, first=50, size=333)
    assert [item for page in pages for item in page["items"]] == expected
    worktime = [i for i in order if docs[i]["period"] == "worktime"]
    pages = walk(client, CDRS, api_key, {"period": "worktime", "size": 250})
    check_listing(pages, [docs[i] for i in worktime], [keys[i] for i in worktime], 250)


# ----------------------------------------------------------------------------------------
# 3. A plain number as after: strictly after that millisecond.


@pytest.fixture
def three_instants(client: TestClient, customer: Customer, ingest_key: str) -> list[Doc]:
    """Six CDRs: three at BASE_MS, one a millisecond later, two a second later; in order."""
    docs = [
        {"callid": "1", "ori_start_time": iso(BASE_MS), "period": "worktime"},
        {"callid": "20", "ori_start_time": iso(BASE_MS, _OFFSETS[1]), "period": "offtime"},
        {"callid": "3", "ori_start_time": iso(BASE_MS, _OFFSETS[2]), "period": "worktime"},
        {"callid": "4", "ori_start_time": iso(BASE_MS + 1), "period": "worktime"},
        {"callid": "5", "ori_start_time": iso(BASE_MS + 1000), "period": "offtime"},
        {
            "callid": "6",
            "ori_start_time": iso(BASE_MS + 1000, fraction=False),
            "period": "worktime",
        },
    ]
    ingest(client, ingest_key, f"/ingest/customers/{customer.id}/cdrs", docs[::-1])
    return docs


@pytest.mark.parametrize(
    ("after", "size", "first", "last", "next_after"),
    [
        (BASE_MS - 1, 100, 0, 6, BASE_MS + 1000),
        (0, 100, 0, 6, BASE_MS + 1000),
        (BASE_MS, 100, 3, 6, BASE_MS + 1000),  # all three items of BASE_MS are skipped
        (BASE_MS, 1, 3, 4, BASE_MS + 1),
        (BASE_MS + 1, 100, 4, 6, BASE_MS + 1000),
        (BASE_MS + 999, 1, 4, 5, "token"),
        (BASE_MS - 1, 2, 0, 2, "token"),
        (BASE_MS - 1, 3, 0, 3, BASE_MS),
    ],
)
def test_number_after_means_strictly_after_that_millisecond(
    client: TestClient,
    api_key: str,
    three_instants: list[Doc],
    after: int,
    size: int,
    first: int,
    last: int,
    next_after: int | str,
) -> None:
    page = get(client, CDRS, api_key, {"after": after, "size": size})
    assert page["items"] == three_instants[first:last]
    assert page["total"] == 6
    if next_after == "token":
        assert isinstance(page["after"], str)
    else:
        assert type(page["after"]) is int and page["after"] == next_after


@pytest.mark.parametrize("after", [BASE_MS + 1000, BASE_MS + 1001, 4_102_444_800_000])
def test_number_after_beyond_the_last_item_is_an_empty_page(
    client: TestClient, api_key: str, three_instants: list[Doc], after: int
) -> None:
    empty = {"after": None, "items": []}
    assert get(client, CDRS, api_key, {"after": after}) == {"total": 6, **empty}
    assert get(client, CDRS, api_key, {"after": after, "period": "worktime"}) == {
        "total": 4,
        **empty,
    }


def test_total_ignores_after_but_honours_filters_and_bounds(
    client: TestClient, api_key: str, three_instants: list[Doc]
) -> None:
    query = {"period": "worktime", "start_at": BASE_MS + 1, "after": BASE_MS + 1}
    assert get(client, CDRS, api_key, query) == {
        "total": 2,
        "after": BASE_MS + 1000,
        "items": [three_instants[5]],
    }


# ----------------------------------------------------------------------------------------
# 4. A token from another query only positions; start_at later than it wins.


def token_at(client: TestClient, key: str, params: dict[str, Any], size: int) -> str:
    page = get(client, CDRS, key, {**params, "size": size})
    assert isinstance(page["after"], str), page
    return page["after"]


def test_foreign_and_stale_tokens_only_position(
    client: TestClient,
    store: Store,
    customer: Customer,
    api_key: str,
    three_instants: list[Doc],
    ingest_key: str,
) -> None:
    docs = three_instants
    # From a filtered query of the same tenant: after (BASE_MS, "1"), worktime ties at "3".
    worktime_token = token_at(client, api_key, {"period": "worktime"}, 1)
    assert get(client, CDRS, api_key, {"after": worktime_token}) == {
        "total": 6,
        "after": BASE_MS + 1000,
        "items": docs[1:],
    }
    # The lower bound is the later of start_at and the token.
    for start, first in ((BASE_MS + 1, 3), (BASE_MS + 1000, 4), (BASE_MS, 1), (BASE_MS - 5, 1)):
        page = get(client, CDRS, api_key, {"after": worktime_token, "start_at": start})
        total = sum(1 for doc_ms in (0, 0, 0, 1, 1000, 1000) if BASE_MS + doc_ms >= start)
        assert page == {"total": total, "after": BASE_MS + 1000, "items": docs[first:]}
    # From another tenant's listing: after (BASE_MS, "2"), which this tenant does not have.
    other_id, other_key = new_tenant(store)
    ingest(client, ingest_key, f"/ingest/customers/{other_id}/cdrs",
           [{"callid": c, "ori_start_time": iso(BASE_MS)} for c in ("2", "21")])  # fmt: skip
    foreign = token_at(client, other_key, {}, 1)
    page = get(client, CDRS, api_key, {"after": foreign, "size": 1})
    assert (page["total"], page["items"]) == (6, [docs[1]])  # "20" > "2" as text
    assert isinstance(page["after"], str)  # "3" still shares BASE_MS
    pages = walk(client, CDRS, api_key, {"size": 2}, after=foreign)
    assert [item for page in pages for item in page["items"]] == docs[1:]
    # After the data changed on both sides of the position, the old token still positions.
    late = {"callid": "22", "ori_start_time": iso(BASE_MS)}
    early = {"callid": "0", "ori_start_time": iso(BASE_MS)}
    ingest(client, ingest_key, f"/ingest/customers/{customer.id}/cdrs", [late, early])
    assert get(client, CDRS, api_key, {"after": worktime_token, "end_at": BASE_MS}) == {
        "total": 5,
        "after": BASE_MS,
        "items": [docs[1], late, docs[2]],
    }


def test_a_token_from_another_kind_positions_too(
    client: TestClient, customer: Customer, api_key: str, ingest_key: str
) -> None:
    logs = [{"id": i, "timestamp": iso(BASE_MS)} for i in ("a", "c")]
    cdrs = [{"callid": i, "ori_start_time": iso(BASE_MS)} for i in ("a", "b", "c")]
    ingest(client, ingest_key, f"/ingest/customers/{customer.id}/attendant-logs", logs)
    ingest(client, ingest_key, f"/ingest/customers/{customer.id}/cdrs", cdrs)
    token = get(client, ATTENDANTS, api_key, {"size": 1})["after"]
    assert isinstance(token, str)
    assert get(client, CDRS, api_key, {"after": token}) == {
        "total": 3,
        "after": BASE_MS,
        "items": cdrs[1:],
    }


# ----------------------------------------------------------------------------------------
# 5. size: default 100, at most 1000.


def test_default_size_is_100_and_1000_is_the_maximum(
    client: TestClient, customer: Customer, api_key: str, ingest_key: str
) -> None:
    rng = random.Random(7)
    times = [BASE_MS + rng.randrange(20) * 1000 for _ in range(1001)]
    docs = [{"callid": f"c{n:05d}", "ori_start_time": iso(ms)} for n, ms in enumerate(times)]
    ingest(client, ingest_key, f"/ingest/customers/{customer.id}/cdrs", docs)
    order = sorted(range(1001), key=lambda i: (times[i], docs[i]["callid"]))
    expected = [docs[i] for i in order]
    keys = [(times[i], docs[i]["callid"]) for i in order]
    check_listing(walk(client, CDRS, api_key, {}), expected, keys, 100)
    check_listing(walk(client, CDRS, api_key, {"size": 1000}), expected, keys, 1000)
    first = get(client, CDRS, api_key, {})
    assert (len(first["items"]), first["total"]) == (100, 1001)
    for bad in ("0", "1001", "-1", "10.5"):
        response = client.get(CDRS, params={"size": bad}, headers={"x-api-key": api_key})
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["status"], error["code"], error["parameter"]) == (
            400,
            "invalid_parameter",
            "size",
        )
