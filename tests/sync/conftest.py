"""Destinations of each kind for the sync's tests, and a client of the in-process app."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from fastapi.testclient import TestClient

from atende_logs.client import LogsClient


@pytest.fixture(params=["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty destination of each kind: a DuckDB file, a SQLite file, a PostgreSQL schema
    of its own (beside the server's, in the test database)."""
    if request.param == "duckdb":
        yield str(tmp_path / "copy.duckdb")
        return
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'copy.sqlite'}"
        return
    url = request.getfixturevalue("postgres_url").split("?")[0]
    schema = f"sync_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def logs_client(client: TestClient, api_key: str) -> Iterator[LogsClient]:
    """The client of ``atende_logs.client`` over the in-process app."""
    with LogsClient(
        "http://testserver", api_key, allow_insecure_http=True, transport=client._transport
    ) as logs:
        yield logs
