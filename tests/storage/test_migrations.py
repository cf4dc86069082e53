"""The versioned schema: every step applies, undoes and re-applies on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from atende_logs.storage.migrate import current, downgrade, pending, upgrade


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url = request.getfixturevalue("postgres_url").split("?")[0]
    schema = f"migrations_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def test_up_down_up(fresh_url: str) -> None:
    every = pending(fresh_url)
    assert every[0] == "0001_initial" and current(fresh_url) is None
    upgrade(fresh_url)
    assert current(fresh_url) == every[-1] and pending(fresh_url) == []
    downgrade(fresh_url, "base")
    assert current(fresh_url) is None and pending(fresh_url) == every
    upgrade(fresh_url)
    assert current(fresh_url) == every[-1]


@pytest.mark.postgres
def test_postgres_documents_use_lz4(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as connection:
        methods = connection.execute(
            "SELECT attrelid::regclass::text, attcompression FROM pg_attribute "
            "WHERE attname = 'doc' AND attrelid::regclass::text IN "
            "('attendant_logs', 'cdrs', 'cards')"
        ).fetchall()
    assert sorted(methods) == [("attendant_logs", "l"), ("cards", "l"), ("cdrs", "l")]
