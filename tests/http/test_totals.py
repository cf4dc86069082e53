"""``total`` is the count of the query asked, never of another query a cached count shares
values with (issue 21, point 1)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from _remote import Server
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import ATTENDANT_LOGS, KINDS, value_at
from atende_logs.models import Customer
from atende_logs.storage import Store

BASE = datetime(2024, 5, 6, 12, tzinfo=UTC)


def attendant_log(n: int, **fields: str) -> dict[str, Any]:
    moment = (BASE + timedelta(minutes=n)).isoformat()
    return {"id": f"log-{n:03}", "timestamp": moment, **fields}


def test_two_filters_sharing_a_value_get_their_own_totals(
    client: TestClient, store: Store, customer: Customer, api_key: str
) -> None:
    """The issue's reproduction: 20 logs of kind=status, 10 of description=status."""
    docs = [attendant_log(n, kind="status", description="pausa") for n in range(20)]
    docs += [attendant_log(n, kind="login", description="status") for n in range(20, 30)]
    ingest(store, customer.id, ATTENDANT_LOGS, as_records(docs), zone=UTC)

    def total(**params: str) -> int:
        response = client.get(
            "/customers/attendants/logs",
            params={**params, "size": "1"},
            headers={"x-api-key": api_key},
        )
        assert response.status_code == 200, response.text
        value: int = response.json()["total"]
        return value

    assert [total(kind="status") for _ in range(3)] == [20, 20, 20]
    assert total(description="status") == 10
    assert total(screen="status") == 0


# --- Property: any sequence of queries against one long-lived server ----------------------

POOL = ["status", "pausa", "login", "ativo"]
"""The values every text field draws from: any two filters can share a value."""
TEXT_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "attendant-logs": {
        "kind": ("kind",),
        "screen": ("screen",),
        "description": ("description",),
        "source": ("source",),
        "call_id": ("call", "call_id"),
    },
    "cdrs": {
        name: (name,) for name in ("period", "call_terminated", "call_status", "configuration_kind")
    },
    "cards": {name: (name,) for name in ("status", "card_info_1", "card_info_2", "card_info_3")},
}
TIME_FIELD = {"attendant-logs": "timestamp", "cdrs": "ori_start_time", "cards": "timestamp"}
ID_FIELD = {"attendant-logs": "id", "cdrs": "callid", "cards": "id"}
PATH = {kind: KINDS[kind].path for kind in TIME_FIELD}
DOCS_PER_KIND = 48
BASE_MS = 1_714_990_800_000  # 2024-05-06T10:20:00Z: whole hours lie inside the data's span
STEP_MS = 17 * 60_000


def dataset(kind: str) -> list[dict[str, Any]]:
    """Fixed documents: pairs share a millisecond (so pages end in tokens), each text field
    takes a value of POOL or is absent, attendant logs have a duration."""
    chosen = random.Random(f"issue-21-{kind}")
    docs = []
    for n in range(DOCS_PER_KIND):
        doc: dict[str, Any] = {
            ID_FIELD[kind]: f"{kind[:3]}-{n:03}",
            TIME_FIELD[kind]: BASE_MS + n // 2 * STEP_MS,
        }
        for path in TEXT_FIELDS[kind].values():
            value = chosen.choice([*POOL, None])
            if value is not None:
                doc.update({path[0]: value} if len(path) == 1 else {path[0]: {path[1]: value}})
        if kind == "attendant-logs":
            doc["duration"] = chosen.choice([0, 10, 20, 30, 40])
        if kind == "cards":
            doc["number"] = f"55639848{n:05}"
        docs.append(doc)
    return docs


DATA = {kind: dataset(kind) for kind in TIME_FIELD}
TIMES = sorted({doc[TIME_FIELD[kind]] for kind, docs in DATA.items() for doc in docs})
HOURS = [BASE_MS // 3_600_000 * 3_600_000 + hour * 3_600_000 for hour in range(9)]
BOUNDS = sorted({moment + delta for moment in TIMES + HOURS for delta in (-1, 0, 1)})


@dataclass(frozen=True)
class Asked:
    kind: str
    filters: dict[str, str]
    start_ms: int | None
    end_ms: int | None
    size: int
    pages: int

    def params(self, token: str) -> dict[str, str]:
        params = {**self.filters, "size": str(self.size)}
        if self.start_ms is not None:
            params["start_at"] = str(self.start_ms)
        if self.end_ms is not None:
            params["end_at"] = str(self.end_ms)
        return {**params, "token": token} if self.kind == "cards" else params

    def matching_ids(self) -> list[str]:
        """The ids the query must list, in order, computed over the documents here."""
        found = [doc for doc in DATA[self.kind] if self._matches(doc)]
        time, id_ = TIME_FIELD[self.kind], ID_FIELD[self.kind]
        return [doc[id_] for doc in sorted(found, key=lambda doc: (doc[time], doc[id_]))]

    def _matches(self, doc: dict[str, Any]) -> bool:
        moment = doc[TIME_FIELD[self.kind]]
        if self.start_ms is not None and moment < self.start_ms:
            return False
        if self.end_ms is not None and moment > self.end_ms:
            return False
        for name, value in self.filters.items():
            if name == "duration":
                if doc["duration"] < int(value):
                    return False
            elif value_at(doc, *TEXT_FIELDS[self.kind][name]) != value:
                return False
        return True


@st.composite
def asked(draw: st.DrawFn) -> Asked:
    kind = draw(st.sampled_from(sorted(TIME_FIELD)))
    names = sorted(TEXT_FIELDS[kind]) + (["duration"] if kind == "attendant-logs" else [])
    chosen = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    filters = {
        name: draw(st.sampled_from(["0", "15", "30"] if name == "duration" else POOL))
        for name in chosen
    }
    start, end = (
        draw(st.none() | st.sampled_from(BOUNDS)),
        draw(st.none() | st.sampled_from(BOUNDS)),
    )
    if start is not None and end is not None and start > end:
        start, end = end, start
    return Asked(
        kind, filters, start, end, draw(st.sampled_from([1, 2, 3, 7, 100])), draw(st.integers(1, 4))
    )


@dataclass(frozen=True)
class Served:
    http: httpx.Client
    token: str


@pytest.fixture(scope="module")
def served(
    database_url: str, store: Store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One server process for every example: its count cache lives through all of them."""
    customer = store.create_customer(f"totals {uuid.uuid4().hex[:8]}")
    dialer, token = store.create_dialer(customer.id, "Discador")
    _, key = store.create_api_key(customer.id)
    for name, docs in DATA.items():
        dialer_id = dialer.id if name == "cards" else None
        result = ingest(
            store, customer.id, KINDS[name], as_records(docs), zone=UTC, dialer_id=dialer_id
        )
        assert result.rejected == 0, result.rejections
    log = tmp_path_factory.mktemp("totals") / "server.log"
    with (
        Server(database_url, log) as server,
        httpx.Client(base_url=server.url, headers={"x-api-key": key}, timeout=60) as http,
    ):
        yield Served(http, token)


@settings(max_examples=150)
@given(queries=st.lists(asked(), min_size=1, max_size=8))
@example(
    queries=[
        Asked("attendant-logs", {"kind": "status"}, None, None, 1, 1),
        Asked("attendant-logs", {"description": "status"}, None, None, 1, 1),
        Asked("cards", {"card_info_1": "pausa"}, None, None, 1, 2),
        Asked("cards", {"card_info_3": "pausa"}, None, None, 1, 2),
        Asked("cdrs", {}, HOURS[1], HOURS[4] - 1, 1, 2),
        Asked("cdrs", {}, HOURS[1] + 1, HOURS[4] - 1, 1, 2),
    ]
)
def test_every_page_total_counts_its_own_query(served: Served, queries: list[Asked]) -> None:
    """Each page's total is the count of its own query, whatever the server counted and
    cached before; the pages walked list the expected items in order."""
    for query in queries:
        expected = query.matching_ids()
        params, listed = query.params(served.token), []
        for _ in range(query.pages):
            response = served.http.get(PATH[query.kind], params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["total"] == len(expected), (query, page["after"])
            listed += [item[ID_FIELD[query.kind]] for item in page["items"]]
            if page["after"] is None:
                break
            params["after"] = str(page["after"])
        assert listed == expected[: len(listed)]
