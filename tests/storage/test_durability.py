"""What the database acknowledges, it keeps (issue 5).

SQLite: every connection the store opens runs WAL with ``synchronous=FULL``. PostgreSQL: the
server reads ``fsync``, ``synchronous_commit`` and ``full_page_writes`` at start-up and
warns, one line per setting, when one is off. ``synchronous_commit`` can be turned off for
one session, so the warning is tested for real; the CI server's defaults give none.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest
from fastapi.testclient import TestClient

from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.storage import open_store
from atende_logs.storage.durability import postgres_settings_off, warn_unless_durable
from atende_logs.storage.migrate import upgrade

SYNCHRONOUS_FULL = 2


def test_every_sqlite_connection_runs_wal_with_synchronous_full(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'durable.db'}"
    upgrade(url)
    store = open_store(Settings(database_url=url))
    try:
        customer = store.create_customer("durável")  # a write
        readers = [threading.Thread(target=store.list_customers) for _ in range(3)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        connections = list(store._connections)  # type: ignore[attr-defined]
        # This thread's, and one per reader thread: each opened and set up on its own.
        assert len(connections) == 4
        for connection in connections:
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert connection.execute("PRAGMA synchronous").fetchone() == (SYNCHRONOUS_FULL,)
        assert store.get_customer(customer.id) == customer
    finally:
        store.close()


def test_sqlite_needs_no_server_check(tmp_path: Path) -> None:
    # Nothing to read: the settings are the store's own, set on each connection.
    assert postgres_settings_off(f"sqlite:///{tmp_path / 'never-opened.db'}") == []
    assert not (tmp_path / "never-opened.db").exists()


def with_option(url: str, option: str) -> str:
    """``url`` with ``option`` (``-cname=value``) added to its libpq ``options``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    options = [value for name, value in query if name == "options"] + [option]
    rest = [(name, value) for name, value in query if name != "options"]
    query_text = urlencode([*rest, ("options", " ".join(options))], quote_via=quote)
    return urlunsplit(parts._replace(query=query_text))


def start_and_stop(database_url: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The app started on ``database_url`` (opening its own store): its storage warnings."""
    with (
        caplog.at_level(logging.WARNING, logger="atende_logs.storage"),
        TestClient(create_app(Settings(database_url=database_url))) as client,
    ):
        assert client.get("/customers/cdrs/logs").status_code == 401  # it serves all the same
    return [r.getMessage() for r in caplog.records if r.name == "atende_logs.storage"]


@pytest.mark.postgres
def test_postgres_defaults_start_without_a_warning(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert postgres_settings_off(postgres_url) == []
    assert start_and_stop(postgres_url, caplog) == []


@pytest.mark.postgres
def test_synchronous_commit_off_is_warned_at_start_up(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = with_option(postgres_url, "-csynchronous_commit=off")
    assert postgres_settings_off(url) == ["synchronous_commit"]
    (warning,) = start_and_stop(url, caplog)
    assert "synchronous_commit is off" in warning


@pytest.mark.postgres
@pytest.mark.parametrize("value", ["local", "remote_write", "on"])
def test_synchronous_commit_that_waits_for_the_local_flush_is_durable(
    postgres_url: str, value: str
) -> None:
    assert postgres_settings_off(with_option(postgres_url, f"-csynchronous_commit={value}")) == []


@pytest.mark.postgres
def test_the_warning_names_the_setting_and_what_it_risks(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = with_option(postgres_url, "-csynchronous_commit=off")
    with caplog.at_level(logging.WARNING, logger="atende_logs.storage"):
        assert warn_unless_durable(url) == ["synchronous_commit"]
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "PostgreSQL durability: synchronous_commit is off, so transactions acknowledged to "
        "clients can be lost in a crash; turn it on in production"
    )
