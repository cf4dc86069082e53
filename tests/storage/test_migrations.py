"""The versioned schema: every step applies, undoes and re-applies on both databases."""

from __future__ import annotations

import psycopg
import pytest

from atende_logs.storage.migrate import current, downgrade, pending, upgrade


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
