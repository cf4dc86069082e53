"""``total`` is the count of the query asked, never of another query a cached count shares
values with (issue 21, point 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo import as_records
from atende_logs.kinds import ATTENDANT_LOGS
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
            "/customers/attendants/logs", params={**params, "size": "1"}, headers={"x-api-key": api_key}
        )
        assert response.status_code == 200, response.text
        value: int = response.json()["total"]
        return value

    assert [total(kind="status") for _ in range(3)] == [20, 20, 20]
    assert total(description="status") == 10
    assert total(screen="status") == 0
