"""The stats endpoints (issue 20), on both databases: their bars add up to the listing's
``total`` for the same range and filters, bar by bar, in zones with and without daylight
saving; their errors are the listing's; they see one customer's (one dialer's) rows only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from atende_logs.http.routes.stats import _iso
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, KINDS, Kind
from atende_logs.storage import Store

# Brazil's clocks jumped from 00:00 to 01:00 on 2018-11-04 (its last change of all), and
# New York's went back from 02:00 to 01:00 that same day: the data straddles both.
BASE = datetime(2018, 11, 2, 22, tzinfo=UTC)
STEP = timedelta(minutes=37)
COUNT = 150
ZONES = ["America/Sao_Paulo", "America/New_York", "UTC", "Asia/Kolkata"]
VALUES = ["answered", "abandoned", "busy", None]
"""Each split field's and each filter's values; None leaves the field out."""
FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "cdrs": {"call_status": ("call_status",), "period": ("period",)},
    "attendant-logs": {"screen": ("screen",), "kind": ("kind",), "source": ("source",)},
    "cards": {"status": ("status",), "card_info_1": ("card_info_1",)},
}


def document(kind: Kind, n: int) -> dict[str, Any]:
    """The n-th record: every field's value cycles at its own pace, so filters combine."""
    doc: dict[str, Any] = {
        kind.id_field: f"r-{n:04}",
        kind.time_field: (BASE + n * STEP).isoformat(),
    }
    for i, (_, path) in enumerate(FIELDS[kind.name].items()):
        value = VALUES[(n // (i + 1)) % len(VALUES)]
        if value is not None:
            doc[path[0]] = value
    if kind is CARDS:
        doc["number"] = f"55119{n:08}"
    return doc


@dataclass(frozen=True)
class Tenant:
    key: str
    token: str
    other_token: str


@pytest.fixture(scope="module")
def tenant(store: Store) -> Tenant:
    """A customer with the records of every kind, and two dialers (the second one's cards
    are all its own, counted nowhere else)."""
    customer = store.create_customer(f"stats {uuid.uuid4().hex[:8]}")
    dialer, token = store.create_dialer(customer.id, "um")
    other, other_token = store.create_dialer(customer.id, "dois")
    for kind in KINDS.values():
        docs = as_records(document(kind, n) for n in range(COUNT))
        ingest(store, customer.id, kind, docs, zone=UTC, dialer_id=dialer.id)
    extra = as_records(document(CARDS, n) for n in range(COUNT, COUNT + 7))
    ingest(store, customer.id, CARDS, extra, zone=UTC, dialer_id=other.id)
    return Tenant(store.create_api_key(customer.id)[1], token, other_token)


def get(client: TestClient, path: str, key: str, **params: str) -> Any:
    response = client.get(path, params=params, headers={"x-api-key": key})
    assert response.status_code == 200, response.text
    return response.json()


def listing_total(client: TestClient, kind: Kind, tenant: Tenant, params: dict[str, str]) -> int:
    total: int = get(client, kind.path, tenant.key, size="1", **params)["total"]
    return total


def token_of(kind: Kind, tenant: Tenant) -> dict[str, str]:
    return {"token": tenant.token} if kind.scope.by_dialer else {}


ranges = st.tuples(
    st.integers(min_value=-20, max_value=COUNT * 37 + 20),
    st.integers(min_value=0, max_value=COUNT * 37),
).map(lambda t: (BASE + timedelta(minutes=t[0]), BASE + timedelta(minutes=t[0] + t[1])))


@settings(max_examples=12)
@given(
    kind_name=st.sampled_from(list(KINDS)),
    span=ranges,
    tz=st.sampled_from(ZONES),
    interval=st.sampled_from(["hour", "day"]),
    use_split=st.booleans(),
    filter_choice=st.integers(min_value=0, max_value=8),
    pick=st.randoms(use_true_random=False),
)
def test_bars_add_up_to_the_listing_total_bar_by_bar(
    client: TestClient,
    tenant: Tenant,
    kind_name: str,
    span: tuple[datetime, datetime],
    tz: str,
    interval: str,
    use_split: bool,
    filter_choice: int,
    pick: Any,
) -> None:
    kind = KINDS[kind_name]
    fields = list(FIELDS[kind_name])
    filters: dict[str, str] = {}
    if filter_choice < len(fields) * 3:  # a third of the examples have no filter
        field = fields[filter_choice % len(fields)]
        filters[field] = str(VALUES[filter_choice % 3])
    split = pick.choice(kind.splits) if use_split else None
    common = {
        "start_at": span[0].isoformat(),
        "end_at": span[1].isoformat(),
        "tz": tz,
        **token_of(kind, tenant),
        **filters,
    }
    extra = {"interval": interval} | ({"split": split} if split else {})
    body = get(client, kind.stats_path, tenant.key, **common, **extra)

    assert body["total"] == listing_total(client, kind, tenant, common)
    assert body["total"] == sum(bar["total"] for bar in body["buckets"])
    starts = [datetime.fromisoformat(bar["start"]) for bar in body["buckets"]]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    # Each bar holds what the listing holds from its start to the next one's, in the range.
    for i in pick.sample(range(len(starts)), min(3, len(starts))):
        low = max(starts[i], span[0])
        following = starts[i + 1] if i + 1 < len(starts) else None
        high = min(following - timedelta(milliseconds=1), span[1]) if following else span[1]
        bounds = {"start_at": low.isoformat(), "end_at": high.isoformat()}
        assert body["buckets"][i]["total"] == listing_total(client, kind, tenant, common | bounds)
        if split:
            assert sum(body["buckets"][i]["counts"].values()) == body["buckets"][i]["total"]
    if split and split not in filters:
        by_value: dict[str, int] = {}
        for bar in body["buckets"]:
            for value, n in bar["counts"].items():
                by_value[value] = by_value.get(value, 0) + n
        for value, n in by_value.items():
            if value:  # the empty key: records without a value, which no filter selects
                assert n == listing_total(client, kind, tenant, common | {split: value})


def test_a_day_the_clocks_change_is_one_bar_of_23_hours(client: TestClient, tenant: Tenant) -> None:
    body = get(
        client,
        CDRS.stats_path,
        tenant.key,
        start_at="2018-11-03",
        end_at="2018-11-05",
        tz="America/Sao_Paulo",
        split="call_status",
    )
    assert [bar["start"] for bar in body["buckets"]] == [
        "2018-11-03T00:00:00-03:00",
        "2018-11-04T01:00:00-02:00",  # midnight was skipped: the day starts at the jump
        "2018-11-05T00:00:00-02:00",
    ]
    # 23 hours of records 37 minutes apart, in whole: 37 or 38 of them.
    assert body["buckets"][1]["total"] in (37, 38)
    assert set(body["buckets"][0]["counts"]) <= {"answered", "abandoned", "busy", ""}


def test_hour_bars_without_filters_from_the_hourly_counts_match_the_table(
    client: TestClient, tenant: Tenant
) -> None:
    """No split and no filter: served from the hourly counts plus the range's two partial
    hours; with a split, from the table. Both give the same bars."""
    common = {"start_at": "2018-11-03T10:17", "end_at": "2018-11-04T03:41:07", "tz": "UTC"}
    counted = get(client, CDRS.stats_path, tenant.key, interval="hour", **common)
    split = get(client, CDRS.stats_path, tenant.key, interval="hour", split="call_status", **common)
    assert [b["total"] for b in counted["buckets"]] == [b["total"] for b in split["buckets"]]
    assert counted["total"] == listing_total(client, CDRS, tenant, common) > 0


def test_cards_are_counted_for_the_token_s_dialer_only(client: TestClient, tenant: Tenant) -> None:
    common = {"start_at": "2018-01-01", "end_at": "2019-01-01"}
    mine = get(client, CARDS.stats_path, tenant.key, token=tenant.token, **common)
    other = get(client, CARDS.stats_path, tenant.key, token=tenant.other_token, **common)
    assert (mine["total"], other["total"]) == (COUNT, 7)
    response = client.get(
        CARDS.stats_path,
        params=common,
        headers={"x-api-key": tenant.key, "x-dialer-token": tenant.other_token},
    )
    assert response.json()["total"] == 7


def test_another_customer_sees_none_of_the_records(
    client: TestClient, store: Store, tenant: Tenant
) -> None:
    stranger = store.create_customer(f"stranger {uuid.uuid4().hex[:8]}")
    key = store.create_api_key(stranger.id)[1]
    for kind in (CDRS, ATTENDANT_LOGS):
        body = get(client, kind.stats_path, key, start_at="2018-11-01", end_at="2018-11-10")
        assert body["total"] == 0 and len(body["buckets"]) == 10
    # A dialer's token is the caller's own or no dialer at all.
    response = client.get(
        CARDS.stats_path,
        params={"start_at": "2018-11-01", "end_at": "2018-11-10", "token": tenant.token},
        headers={"x-api-key": key},
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("params", "parameter", "code"),
    [
        ({"end_at": "2018-11-05"}, "start_at", "missing_parameter"),
        ({"start_at": "2018-11-05"}, "end_at", "missing_parameter"),
        ({"interval": "week"}, "interval", "invalid_parameter"),
        ({"split": "period"}, "split", "invalid_parameter"),
        ({"split": "call_statu"}, "split", "invalid_parameter"),
        ({"start_at": "2018-01-01", "interval": "hour"}, "interval", "invalid_parameter"),
        ({"start_at": "2019-01-01"}, "start_at", "invalid_range"),
        ({"size": "10"}, "size", "unknown_parameter"),
        ({"after": "1"}, "after", "unknown_parameter"),
        ({"tz": "Mars/Base"}, "tz", "invalid_parameter"),
        (
            {"call_status": "a", "interval": "day", "period": "x", "ori_billing_time": "x"},
            "ori_billing_time",
            "invalid_parameter",
        ),
    ],
)
def test_bad_parameters_are_named(
    client: TestClient, tenant: Tenant, params: dict[str, str], parameter: str, code: str
) -> None:
    base = {"start_at": "2018-11-01", "end_at": "2018-11-10"}
    query = {k: v for k, v in (base | params).items()}
    if "start_at" not in params and parameter == "start_at":
        query.pop("start_at")
    if "end_at" not in params and parameter == "end_at":
        query.pop("end_at")
    response = client.get(CDRS.stats_path, params=query, headers={"x-api-key": tenant.key})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["parameter"], error["code"]) == (parameter, code)


def test_a_bad_key_is_401_whatever_the_parameters(client: TestClient) -> None:
    response = client.get(CDRS.stats_path, params={"interval": "x"}, headers={"x-api-key": "no"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_cards_without_a_token_are_refused(client: TestClient, tenant: Tenant) -> None:
    response = client.get(
        CARDS.stats_path,
        params={"start_at": "2018-11-01", "end_at": "2018-11-10"},
        headers={"x-api-key": tenant.key},
    )
    assert response.status_code == 400
    assert response.json()["error"]["parameter"] == "token"


def test_a_bar_start_in_a_local_mean_time_is_given_in_utc() -> None:
    """RFC 3339 offsets are whole minutes: Monrovia's -00:44:30 (before 1972) has no form."""
    assert _iso(-86_400_000, ZoneInfo("Africa/Monrovia")) == "1969-12-31T00:00:00+00:00"
    assert _iso(1_700_000_000_000, ZoneInfo("America/Sao_Paulo")) == "2023-11-14T19:13:20-03:00"
