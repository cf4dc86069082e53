"""Keys' last use: migration 0007, at most one write a minute per key and process, after the
response, the latest use kept across processes, and shown by the CLI (issue 5)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from atende_logs.cli.main import app as cli_app
from atende_logs.config import Settings, get_settings
from atende_logs.errors import StoreUnavailableError
from atende_logs.http import create_app
from atende_logs.models import Customer, KeyInfo
from atende_logs.storage import Store, open_store
from atende_logs.storage._key_use import KeyUseNotes
from atende_logs.storage.migrate import current, downgrade, upgrade

runner = CliRunner()


def _columns(url: str, table: str) -> set[str]:
    store = open_store(Settings(database_url=url))
    try:
        if store.backend == "sqlite":
            rows = store._all(f"PRAGMA table_info({table})")  # type: ignore[attr-defined]
            return {row[1] for row in rows}
        rows = store._all(  # type: ignore[attr-defined]
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            [table],
        )
        return {row[0] for row in rows}
    finally:
        store.close()


def test_migration_adds_and_removes_the_column(fresh_url: str) -> None:
    upgrade(fresh_url, "0007_key_last_use")  # its own step, whatever came after it
    assert current(fresh_url) == "0007_key_last_use"
    for table in ("api_keys", "ingest_keys"):
        assert "last_used_at_ms" in _columns(fresh_url, table)
    downgrade(fresh_url, "0006_lgpd")
    for table in ("api_keys", "ingest_keys"):
        columns = _columns(fresh_url, table)
        assert "last_used_at_ms" not in columns and "revoked_at_ms" in columns
    upgrade(fresh_url)
    assert "last_used_at_ms" in _columns(fresh_url, "api_keys")


def _key(keys: list[KeyInfo], key_id: int) -> KeyInfo:
    return next(key for key in keys if key.id == key_id)


def test_a_use_is_written_once_per_interval(store: Store, customer: Customer) -> None:
    info, secret = store.create_api_key(customer.id)
    assert info.last_used_at_ms is None
    store.record_key_use()  # whatever other tests left noted
    assert store.authenticate(secret) == customer.id
    assert store.key_use_pending()
    store.record_key_use()
    assert not store.key_use_pending()
    first = _key(store.list_api_keys(customer.id), info.id).last_used_at_ms
    assert first is not None and first >= info.created_at_ms
    # Within the minute, further uses note nothing: no write.
    for _ in range(5):
        assert store.authenticate(secret) == customer.id
    assert not store.key_use_pending()
    assert _key(store.list_api_keys(customer.id), info.id).last_used_at_ms == first


def test_failed_authentication_notes_nothing(store: Store, customer: Customer) -> None:
    info, secret = store.create_api_key(customer.id)
    store.record_key_use()
    store.revoke_api_key(info.id)
    assert store.authenticate(secret) is None
    assert store.authenticate("atl_live_" + "x" * 28) is None
    assert not store.key_use_pending()
    assert _key(store.list_api_keys(customer.id), info.id).last_used_at_ms is None


def test_ingest_keys_too(store: Store) -> None:
    info, secret = store.create_ingest_key(f"producer {uuid.uuid4().hex[:8]}")
    store.record_key_use()
    assert store.authenticate_ingest(secret)
    store.record_key_use()
    used = _key(store.list_ingest_keys(), info.id).last_used_at_ms
    assert used is not None and used >= info.created_at_ms


def test_the_latest_use_wins_across_processes(
    app_settings: Settings, store: Store, customer: Customer
) -> None:
    """Two processes write in any order; an older use never overwrites a newer one."""
    info, _ = store.create_api_key(customer.id)
    other = open_store(app_settings)  # another process's store: its own notes
    try:
        newer, older = info.created_at_ms + 60_000, info.created_at_ms + 1_000
        store.key_use.note("api_keys", info.id, newer)  # type: ignore[attr-defined]
        store.record_key_use()
        other.key_use.note("api_keys", info.id, older)  # type: ignore[attr-defined]
        other.record_key_use()
        assert _key(store.list_api_keys(customer.id), info.id).last_used_at_ms == newer
    finally:
        other.close()


def test_notes_follow_the_interval() -> None:
    notes = KeyUseNotes(interval_s=0.0)
    notes.note("api_keys", 1, 10)
    notes.note("api_keys", 1, 20)  # interval 0: taken again, the later use replaces it
    notes.note("ingest_keys", 1, 30)
    assert notes.take() == {("api_keys", 1): 20, ("ingest_keys", 1): 30}
    assert not notes.pending() and notes.take() == {}
    hourly = KeyUseNotes(interval_s=3600.0)
    hourly.note("api_keys", 2, 10)
    hourly.take()
    hourly.note("api_keys", 2, 20)
    assert not hourly.pending()


def test_a_request_records_its_key_after_the_response(
    client: TestClient, store: Store, customer: Customer
) -> None:
    info, secret = store.create_api_key(customer.id)
    response = client.get("/customers/cdrs/logs", headers={"x-api-key": secret})
    assert response.status_code == 200
    # The TestClient returns once the app is done, the write after the response included.
    used = _key(store.list_api_keys(customer.id), info.id).last_used_at_ms
    assert used is not None and used >= info.created_at_ms
    assert not store.key_use_pending()


def test_cli_lists_last_use(
    database_url: str, store: Store, customer: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    used, secret = store.create_api_key(customer.id)
    idle, _ = store.create_api_key(customer.id)
    store.authenticate(secret)
    store.record_key_use()
    monkeypatch.setenv("ATENDE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        listed = runner.invoke(cli_app, ["keys", "list", str(customer.id), "--json"])
        table = runner.invoke(cli_app, ["keys", "list", str(customer.id)])
    finally:
        get_settings.cache_clear()
    assert listed.exit_code == 0 and table.exit_code == 0, (listed.stdout, table.stdout)
    by_id = {key["id"]: key for key in orjson.loads(listed.stdout)}
    assert isinstance(by_id[used.id]["last_used_at_ms"], int)
    assert by_id[idle.id]["last_used_at_ms"] is None
    assert "last used" in table.stdout and secret not in table.stdout + listed.stdout


class _UnwritableKeyUse:
    """The real store, except that writing key uses fails as a database outage would."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def record_key_use(self) -> None:
        self._store.key_use.take()  # type: ignore[attr-defined]
        raise StoreUnavailableError("o banco de dados está ocupado; tente novamente")


def test_a_failed_write_costs_a_log_line_not_the_request(
    app_settings: Settings, store: Store, customer: Customer, caplog: pytest.LogCaptureFixture
) -> None:
    _, secret = store.create_api_key(customer.id)
    store.record_key_use()
    app = create_app(app_settings, store=_UnwritableKeyUse(store))  # type: ignore[arg-type]
    with TestClient(app) as client, caplog.at_level(logging.WARNING, "atende_logs.http"):
        response = client.get("/customers/cdrs/logs", headers={"x-api-key": secret})
    assert response.status_code == 200
    assert "could not record key use" in caplog.text
