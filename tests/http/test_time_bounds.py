"""The time bounds of issue 21 through the HTTP API, on both databases: an ``end_at`` whose
minute ends a daylight-saving period, compact dates, epoch values that cannot be ours, more
than three fraction digits and the range's edge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import ATTENDANT_LOGS
from atende_logs.models import Customer
from atende_logs.storage import Store

PATH = ATTENDANT_LOGS.path
TIMES = {  # id: the item's instant
    "sp-noon": "2019-02-16T12:00:00.000Z",
    "sp-last-ms": "2019-02-17T01:59:59.999Z",  # 23:59:59.999-02:00, before the clocks went back
    "sp-change": "2019-02-17T02:00:00.000Z",  # 23:00-03:00: the repeated hour begins
    "sp-repeated": "2019-02-17T02:30:00.000Z",  # the record, 23:30-03:00
    "sp-next-day": "2019-02-17T03:00:00.000Z",
    "lisbon-last-ms": "2020-10-25T00:59:59.999Z",  # 01:59:59.999+01:00
    "lisbon-repeated": "2020-10-25T01:30:00.000Z",  # 01:30+00:00, the second 01:30
    "ms-244": "2020-01-27T19:28:23.244Z",
    "ms-245": "2020-01-27T19:28:23.245Z",
    "day-end": "2020-01-28T02:59:59.999Z",  # 2020-01-27T23:59:59.999-03:00
    "next-day": "2020-01-28T03:00:00.000Z",
}


@dataclass(frozen=True)
class Reader:
    """The session's app, asked with a customer's key."""

    client: TestClient
    key: str

    def get(self, params: dict[str, str]) -> Response:
        return self.client.get(PATH, params=params, headers={"x-api-key": self.key})


@pytest.fixture
def reader(client: TestClient, store: Store, customer: Customer, api_key: str) -> Reader:
    docs = [{"id": key, "timestamp": moment} for key, moment in TIMES.items()]
    result = ingest(store, customer.id, ATTENDANT_LOGS, as_records(docs), zone=UTC)
    assert result.rejected == 0
    return Reader(client, api_key)


def ids(reader: Reader, **params: str) -> list[str]:
    response = reader.get(params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return [item["id"] for item in body["items"]]


def between(low: str, high: str) -> list[str]:
    """The ids from ``low`` to ``high`` inclusive, in time order."""
    times = sorted(TIMES.items(), key=lambda pair: pair[1])
    keys = [key for key, _ in times]
    return keys[keys.index(low) : keys.index(high) + 1]


def test_the_minute_before_the_clocks_go_back_lasts_a_minute(reader: Reader) -> None:
    """The issue's reproductions: Sao Paulo's default zone, then Lisbon's."""
    assert ids(reader, start_at="2019-02-16", end_at="2019-02-16T23:59") == [
        "sp-noon",
        "sp-last-ms",
    ]
    assert ids(reader, start_at="2019-02-16", end_at="2019-02-16T23:59:59.999") == [
        "sp-noon",
        "sp-last-ms",
    ]
    # The whole day lasted 25 hours, the repeated one included.
    assert ids(reader, start_at="2019-02-16", end_at="2019-02-16") == between(
        "sp-noon", "sp-repeated"
    )
    lisbon = ids(reader, tz="Europe/Lisbon", start_at="2020-10-25", end_at="2020-10-25T01:59")
    assert lisbon == ["lisbon-last-ms"]


def test_eight_digits_are_a_date(reader: Reader) -> None:
    assert ids(reader, start_at="20200127", end_at="20200127") == between("ms-244", "day-end")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "1580164093",
            "start_at em milissegundos desde 1970 deve ser 0 ou a partir de 2000-01-01 "
            "(946684800000): '1580164093'; parecem segundos: multiplique por 1000",
        ),
        ("20201301", "start_at não é uma data válida: '20201301'; oito dígitos são lidos "
         "como uma data AAAAMMDD"),
    ],
)  # fmt: skip
def test_a_number_that_cannot_be_meant_is_refused(reader: Reader, value: str, message: str) -> None:
    response = reader.get({"start_at": value})
    assert response.status_code == 400
    error = response.json()["error"]
    del error["request_id"]
    assert error == {
        "status": 400,
        "code": "invalid_parameter",
        "message": message,
        "parameter": "start_at",
    }


def test_zero_is_still_the_beginning(reader: Reader) -> None:
    assert ids(reader, start_at="0", end_at="2019-02-16T12:00Z") == ["sp-noon"]


def test_past_the_millisecond_a_start_rounds_up_and_an_end_down(reader: Reader) -> None:
    assert ids(reader, start_at="2020-01-27T19:28:23.2441Z", end_at="2020-01-27") == between(
        "ms-245", "day-end"
    )
    assert ids(reader, start_at="2020-01-27", end_at="2020-01-27T19:28:23.2449Z") == ["ms-244"]


def test_a_range_is_refused_only_when_it_holds_no_millisecond(reader: Reader) -> None:
    # Later than the date, but inside the day it covers.
    assert ids(reader, start_at="2020-01-27T16:28", end_at="2020-01-27") == between(
        "ms-244", "day-end"
    )
    assert ids(reader, start_at="2020-01-27T23:59:59.999", end_at="2020-01-27") == ["day-end"]
    for start_at in ("2020-01-28T00:00", "2020-01-27T23:59:59.9991"):
        response = reader.get({"start_at": start_at, "end_at": "2020-01-27"})
        assert response.status_code == 400, start_at
        error: dict[str, Any] = response.json()["error"]
        assert (error["code"], error["parameter"]) == ("invalid_range", "start_at")


def test_bounds_are_inclusive_to_the_millisecond(reader: Reader) -> None:
    last = datetime(2020, 1, 28, 2, 59, 59, 999000, tzinfo=UTC)
    exact = last.isoformat(timespec="milliseconds")
    assert ids(reader, start_at=exact, end_at=exact) == ["day-end"]
    after = (last + timedelta(milliseconds=1)).isoformat(timespec="milliseconds")
    assert ids(reader, start_at=after, end_at=after) == ["next-day"]
