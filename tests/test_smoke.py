from __future__ import annotations

from fastapi.testclient import TestClient

from atende_logs.models import Customer


def test_empty_listing(client: TestClient, api_key: str, customer: Customer) -> None:
    response = client.get("/customers/cdrs/logs", headers={"x-api-key": api_key})
    assert response.status_code == 200
    assert response.json() == {"total": 0, "after": None, "items": []}
