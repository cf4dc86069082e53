"""The demo data set: deterministic, shaped exactly like the spec's examples, with ties."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atende_logs import demo_documents
from atende_logs.demo_documents import DemoPlan

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "src" / "atende_logs" / "http" / "examples"  # the spec's examples, packaged
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
PLAN = DemoPlan(
    start=datetime(2024, 3, 4, 3, tzinfo=UTC),  # Monday 00:00 in São Paulo
    days=14,
    attendants=6,
    attendant_logs=1500,
    cdrs=900,
    cards=400,
    seed=11,
)
Doc = dict[str, Any]
Generator = Callable[[DemoPlan], Iterator[Doc]]
GENERATORS: dict[str, Generator] = {
    "attendant-logs": demo_documents.attendant_logs,
    "cdrs": demo_documents.cdrs,
    "dialer-queue-cards": demo_documents.cards,
}
TIME_FIELD = {
    "attendant-logs": "timestamp",
    "cdrs": "ori_start_time",
    "dialer-queue-cards": "timestamp",
}
MAY_BE_NULL = {"public_audio_url"}  # null exactly when has_audio is false
LOCAL_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000-03:00$")
UTC_MILLISECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@cache
def docs(kind: str, plan: DemoPlan = PLAN) -> tuple[Doc, ...]:
    """Generated once per (kind, plan); tests must not mutate them."""
    return tuple(GENERATORS[kind](plan))


@cache
def example(kind: str) -> Doc:
    path = SPEC / f"example-{kind}.json"
    if not path.exists():
        pytest.skip(f"spec example not found: {path}")
    item: Doc = orjson.loads(path.read_bytes())["items"][0]
    return item


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def json_type(value: Any) -> str:
    return "bool" if isinstance(value, bool) else type(value).__name__


def assert_same_shape(expected: Any, actual: Any, path: str) -> None:
    """Same keys in the same order and the same JSON types wherever the example has a value.

    Where the example has null (or an empty object or list) anything may stand.
    """
    if expected is None or expected == {} or expected == []:
        return
    if actual is None and path.rsplit(".", 1)[-1] in MAY_BE_NULL:
        return
    assert json_type(actual) == json_type(expected), path
    if isinstance(expected, dict):
        assert list(actual) == list(expected), path
        for key, value in expected.items():
            assert_same_shape(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        for index, item in enumerate(actual):
            assert_same_shape(expected[0], item, f"{path}[{index}]")


@pytest.mark.parametrize("kind", GENERATORS)
def test_same_plan_gives_the_same_documents(kind: str) -> None:
    first = orjson.dumps(list(GENERATORS[kind](PLAN)))
    assert orjson.dumps(list(GENERATORS[kind](PLAN))) == first
    other = DemoPlan(PLAN.start, PLAN.days, PLAN.attendants, 1500, 900, 400, seed=12)
    assert orjson.dumps(list(GENERATORS[kind](other))) != first


@pytest.mark.parametrize("kind", GENERATORS)
def test_documents_serialise_and_round_trip(kind: str) -> None:
    for doc in docs(kind):
        assert orjson.loads(orjson.dumps(doc)) == doc


def test_counts_are_the_plans() -> None:
    assert len(docs("attendant-logs")) == PLAN.attendant_logs
    assert len(docs("cdrs")) == PLAN.cdrs
    assert len(docs("dialer-queue-cards")) == PLAN.cards
    empty = DemoPlan(PLAN.start, attendant_logs=0, cdrs=0, cards=0)
    assert [
        *demo_documents.attendant_logs(empty),
        *demo_documents.cdrs(empty),
        *demo_documents.cards(empty),
    ] == []


@pytest.mark.parametrize("kind", GENERATORS)
def test_documents_have_the_examples_keys_order_and_types(kind: str) -> None:
    expected = example(kind)
    for doc in docs(kind):
        assert list(doc) == list(expected)
        assert_same_shape(expected, doc, kind)


def test_nested_lists_are_exercised() -> None:
    """The shape check above only looks inside lists that are not empty."""
    cdrs = docs("cdrs")
    assert {len(doc["redirects"]) for doc in cdrs} == {0, 1, 2}
    assert {len(doc["interactions"]) for doc in cdrs} >= {0, 1, 2, 3}
    assert all(doc["attendants_groups"] for doc in docs("attendant-logs"))


def test_attendant_log_ids_are_unique_and_offset() -> None:
    ids = [doc["id"] for doc in docs("attendant-logs")]
    assert sorted(ids, key=int) == [str(n) for n in range(1, PLAN.attendant_logs + 1)]
    shifted = [doc["id"] for doc in demo_documents.attendant_logs(PLAN, id_offset=10_000)]
    assert shifted == [str(int(id_) + 10_000) for id_ in ids]


def test_cdr_callids_are_unique_numeric_and_offset() -> None:
    callids = [doc["callid"] for doc in docs("cdrs")]
    assert len(set(callids)) == len(callids)
    assert all(callid.isdigit() for callid in callids)
    shifted = [doc["callid"] for doc in demo_documents.cdrs(PLAN, id_offset=5_000)]
    assert shifted == [str(int(callid) + 5_000) for callid in callids]


def test_attendant_log_timestamps_tie() -> None:
    counts = Counter(doc["timestamp"] for doc in docs("attendant-logs"))
    assert sum(1 for n in counts.values() if n > 1) >= 10
    # two different agents at the very same millisecond
    by_instant: dict[str, set[str]] = {}
    for doc in docs("attendant-logs"):
        by_instant.setdefault(doc["timestamp"], set()).add(doc["email"])
    assert any(len(emails) > 1 for emails in by_instant.values())


def test_cdrs_start_in_bursts_within_one_second() -> None:
    counts = Counter(doc["ori_start_time"] for doc in docs("cdrs"))
    assert sum(1 for n in counts.values() if n > 1) >= 10
    assert max(counts.values()) >= 3


def test_each_card_import_shares_one_timestamp() -> None:
    stamps: dict[str, set[str]] = {}
    for doc in docs("dialer-queue-cards"):
        stamps.setdefault(doc["source"], set()).add(doc["timestamp"])
    assert 3 <= len(stamps) <= 6
    assert all(len(instants) == 1 for instants in stamps.values())
    assert len({next(iter(instants)) for instants in stamps.values()}) == len(stamps)
    sizes = Counter(doc["source"] for doc in docs("dialer-queue-cards"))
    assert min(sizes.values()) > 1
    assert all(source.endswith(".csv") for source in sizes)


@pytest.mark.parametrize("kind", GENERATORS)
def test_times_are_inside_the_plan(kind: str) -> None:
    for doc in docs(kind):
        assert PLAN.start <= instant(doc[TIME_FIELD[kind]]) < PLAN.end


def test_attendant_logs_only_in_working_hours() -> None:
    days = set()
    for doc in docs("attendant-logs"):
        assert UTC_MILLISECOND.match(doc["timestamp"]), doc["timestamp"]
        local = instant(doc["timestamp"]).astimezone(SAO_PAULO)
        assert local.weekday() < 6, doc["timestamp"]  # Monday–Saturday
        assert 8 <= local.hour < 18, doc["timestamp"]
        days.add(local.date())
    assert len(days) == 12  # two weeks, less two Sundays


def test_attendant_log_call_fields_follow_the_screen() -> None:
    screens = Counter(doc["screen"] for doc in docs("attendant-logs"))
    assert set(screens) == {"disconnected", "available", "ringing", "busy", "wrapup", "pause"}
    for doc in docs("attendant-logs"):
        directions = {
            doc["complements"][step]["direction"] for step in ("ringing", "busy", "wrapup")
        }
        if doc["screen"] in ("ringing", "busy", "wrapup"):
            assert doc["call"]["call_id"] and doc["call"]["ani_number"] == doc["ani_number"]
            assert len(directions) == 1 and directions <= {"inbound", "outbound"}
        else:
            assert doc["call"]["call_id"] is None and doc["ani_number"] is None
            assert directions == {None}
        assert (doc["screen"] == "pause") == (doc["description_name"] is not None)
        assert doc["attendant"]["email"] == doc["email"] and doc["duration"] >= 0
    assert len({doc["name"] for doc in docs("attendant-logs")}) == PLAN.attendants


def test_cdr_times_charges_and_labels_agree() -> None:
    names = {doc["name"] for doc in docs("attendant-logs")}
    for doc in docs("cdrs"):
        start, end = doc["ori_start_time"], doc["ori_end_time"]
        assert LOCAL_SECOND.match(start) and LOCAL_SECOND.match(end), (start, end)
        assert (instant(end) - instant(start)).total_seconds() == doc["duration_call"]
        assert doc["ori_billing_time"] % 60 == 0 and doc["ori_billing_time"] >= doc["duration_call"]
        assert re.fullmatch(r"\d+\.\d\d", doc["total_charge"]) and re.fullmatch(
            r"\d+\.\d\d", doc["ori_charge"]
        )
        assert doc["week_day"] == instant(start).strftime("%A").lower()
        assert doc["has_audio"] == (doc["public_audio_url"] is not None)
        assert doc["ani"].startswith("55" + doc["ani_prefix"]) and len(doc["ani"]) == 13
        assert doc["selected_options"] == ",".join(
            step["option_selected"] for step in doc["interactions"]
        )
        assert {redirect["user_name"] for redirect in doc["redirects"]} <= names


def test_cards_are_plausible() -> None:
    numbers = [doc["number"] for doc in docs("dialer-queue-cards")]
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch(r"55\d\d9\d{8}", number) for number in numbers)
    statuses = Counter(doc["status"] for doc in docs("dialer-queue-cards"))
    assert set(statuses) == {"to_call", "calling", "called", "failed", "scheduled"}
    for doc in docs("dialer-queue-cards"):
        assert doc["token"] == "****************"
        assert doc["is_scheduled"] == (doc["schedule"] is not None)
        if doc["schedule"]:
            assert instant(doc["schedule"]) > instant(doc["timestamp"])


def test_default_plan_is_the_28_days_before_today_in_sao_paulo() -> None:
    afternoon = demo_documents.default_plan(datetime(2024, 3, 20, 15, tzinfo=UTC))
    assert afternoon.start == datetime(2024, 2, 21, 3, tzinfo=UTC)
    assert afternoon.end == datetime(2024, 3, 20, 3, tzinfo=UTC) and afternoon.days == 28
    # 01:00 UTC is still the previous day in São Paulo
    late = demo_documents.default_plan(datetime(2024, 3, 20, 1, tzinfo=UTC))
    assert late.start == datetime(2024, 2, 20, 3, tzinfo=UTC)
    assert demo_documents.default_plan().start.tzinfo is UTC


def test_plan_needs_an_aware_start_and_sane_numbers() -> None:
    with pytest.raises(ValueError):
        DemoPlan(start=datetime(2024, 3, 4))
    with pytest.raises(ValueError):
        DemoPlan(start=PLAN.start, days=0)
    with pytest.raises(ValueError):
        DemoPlan(start=PLAN.start, cdrs=-1)
    local = DemoPlan(start=datetime(2024, 3, 4, tzinfo=SAO_PAULO))
    assert local.start == PLAN.start and local.start.tzinfo is UTC


def test_attendant_logs_need_working_hours() -> None:
    sunday = DemoPlan(start=datetime(2024, 3, 3, 3, tzinfo=UTC), days=1)
    with pytest.raises(ValueError):
        list(demo_documents.attendant_logs(sunday))
    saturday_evening = DemoPlan(start=datetime(2024, 3, 2, 21, tzinfo=UTC), days=1)
    with pytest.raises(ValueError):
        list(demo_documents.attendant_logs(saturday_evening))
    saturday_before_six = DemoPlan(start=datetime(2024, 3, 2, 20, 59, tzinfo=UTC), days=1)
    assert len(list(demo_documents.attendant_logs(saturday_before_six))) == 5000
    assert len(list(demo_documents.cdrs(sunday))) == sunday.cdrs
    assert len(list(demo_documents.cards(sunday))) == sunday.cards


@settings(max_examples=40, deadline=None)
@given(
    minutes=st.integers(0, 60 * 24 * 400),
    days=st.integers(1, 9),
    attendants=st.integers(1, 5),
    counts=st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(0, 60)),
    seed=st.integers(0, 2**32),
)
def test_any_plan_gives_its_counts_inside_its_period(
    minutes: int, days: int, attendants: int, counts: tuple[int, int, int], seed: int
) -> None:
    start = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes, microseconds=seed % 10**6)
    plan = DemoPlan(start, days, attendants, *counts, seed=seed)
    local = plan.start.astimezone(SAO_PAULO)
    eight = local.replace(hour=8, minute=0, second=0, microsecond=0)
    idle = days == 1 and (
        (local.weekday() == 5 and local >= eight.replace(hour=18))
        or (local.weekday() == 6 and local <= eight)
    )  # a single day from Saturday 18:00 or from Sunday up to 08:00 has no working hours
    if idle and plan.attendant_logs:
        with pytest.raises(ValueError):
            list(demo_documents.attendant_logs(plan))
        logs = []
    else:
        logs = list(demo_documents.attendant_logs(plan))
        assert len(logs) == plan.attendant_logs
    cdrs, cards = list(demo_documents.cdrs(plan)), list(demo_documents.cards(plan))
    assert (len(cdrs), len(cards)) == counts[1:]
    for kind, found in (("attendant-logs", logs), ("cdrs", cdrs), ("dialer-queue-cards", cards)):
        for doc in found:
            assert plan.start <= instant(doc[TIME_FIELD[kind]]) < plan.end
    assert len({doc["id"] for doc in logs}) == len(logs)
    assert len({doc["callid"] for doc in cdrs}) == len(cdrs)
    assert len({doc["number"] for doc in cards}) == len(cards)
