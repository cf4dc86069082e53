"""An ingest key's scope as the store keeps it (issue 21, finding 2.4), on both databases;
and keys made before scopes existed, which keep writing to every customer after the
upgrade."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from atende_logs import credentials
from atende_logs.config import Settings
from atende_logs.errors import NotFoundError
from atende_logs.models import UNRESTRICTED, Customer, IngestScope
from atende_logs.storage import Store
from atende_logs.storage.factory import open_store
from atende_logs.storage.migrate import upgrade


def _name() -> str:
    return f"producer {uuid.uuid4().hex[:8]}"


def test_a_scope_is_kept_listed_and_authenticated(store: Store, customer: Customer) -> None:
    other = store.create_customer(_name())
    scope = IngestScope(frozenset({customer.id, other.id}), frozenset({"cdrs", "cards"}))
    info, secret = store.create_ingest_key(_name(), scope)
    assert info.scope == scope
    found = store.authenticate_ingest(secret)
    assert found is not None and (found.id, found.scope) == (info.id, scope)
    (listed,) = [key for key in store.list_ingest_keys() if key.id == info.id]
    assert listed.scope == scope and listed.owner == info.owner
    assert found.scope.allows(other.id, "cdrs")
    assert not found.scope.allows(other.id, "attendant-logs")
    assert not found.scope.allows(other.id + 1000, "cdrs")


def test_every_customer_is_the_default_and_a_choice(store: Store) -> None:
    info, secret = store.create_ingest_key(_name())
    found = store.authenticate_ingest(secret)
    assert found is not None and found.scope == info.scope == UNRESTRICTED
    kinds_only = IngestScope(kinds=frozenset({"attendant-logs"}))
    info, secret = store.create_ingest_key(_name(), kinds_only)
    found = store.authenticate_ingest(secret)
    assert found is not None and found.scope == kinds_only
    assert found.scope.allows(10**6, "attendant-logs") and not found.scope.allows(1, "cdrs")


def test_revoked_and_unknown_keys_authenticate_as_nothing(store: Store, customer: Customer) -> None:
    info, secret = store.create_ingest_key(_name(), IngestScope(frozenset({customer.id})))
    assert store.revoke_ingest_key(info.id)
    assert store.authenticate_ingest(secret) is None
    assert store.authenticate_ingest(credentials.generate(credentials.INGEST_KEY)) is None
    assert store.authenticate_ingest("atl_ing_malformed") is None


@pytest.mark.parametrize(
    ("scope", "error"),
    [
        (IngestScope(customers=frozenset()), "no customer"),
        (IngestScope(kinds=frozenset()), "unknown kinds"),
        (IngestScope(kinds=frozenset({"calls"})), "unknown kinds"),
    ],
)
def test_scopes_that_could_write_nothing_are_refused(
    store: Store, scope: IngestScope, error: str
) -> None:
    before = len(store.list_ingest_keys())
    with pytest.raises(ValueError, match=error):
        store.create_ingest_key(_name(), scope)
    assert len(store.list_ingest_keys()) == before


def test_an_unknown_customer_is_refused(store: Store, customer: Customer) -> None:
    before = len(store.list_ingest_keys())
    missing = max(c.id for c in store.list_customers()) + 1000
    with pytest.raises(NotFoundError, match=str(missing)):
        store.create_ingest_key(_name(), IngestScope(frozenset({customer.id, missing})))
    assert len(store.list_ingest_keys()) == before


def test_keys_from_before_the_upgrade_keep_writing_everywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Migration 0011: a key that existed is scoped to every customer and every kind, and
    the upgrade says how many such keys it left (SQLite: the SQL is the same on both)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0009_sqlite_upsert_counts")
    secret = credentials.generate(credentials.INGEST_KEY)
    with closing(sqlite3.connect(tmp_path / "old.db")) as connection, connection:
        connection.execute(
            "INSERT INTO ingest_keys (name, prefix, digest, created_at_ms) VALUES (?, ?, ?, 0)",
            ["old", credentials.display_prefix(secret), credentials.digest(secret)],
        )
    with caplog.at_level(logging.WARNING, logger="atende_logs.migrations"):
        upgrade(url)
    assert any(
        "1 live ingest key(s) keep writing to every customer" in r.getMessage()
        for r in caplog.records
    )
    store = open_store(Settings(database_url=url))
    try:
        found = store.authenticate_ingest(secret)
        assert found is not None and found.scope == UNRESTRICTED
        (listed,) = store.list_ingest_keys()
        assert listed.scope == UNRESTRICTED
    finally:
        store.close()
