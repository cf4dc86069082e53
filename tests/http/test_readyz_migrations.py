"""/readyz across a rolling deploy, on both databases: a database behind this code takes the
process out of service, one a newer release already migrated does not.

The newer release's revision is an id this code does not know, written into the database's
``alembic_version`` as `atende-logs db upgrade` of that release would leave it.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from _raw import stamp
from atende_logs.cli.main import app as cli
from atende_logs.config import Settings, get_settings
from atende_logs.http import create_app
from atende_logs.http.routes.health import DATABASE_TTL_S, PENDING, Ready, schema_state
from atende_logs.storage import open_store
from atende_logs.storage.migrate import current, pending, revisions, upgrade

NEWER = "9001_from_a_newer_release"


class Serving:
    """The app in-process over the database at ``url``, with the store handed in (so the
    app skips its start-up check, as a process already serving has passed it)."""

    def __init__(self, url: str) -> None:
        self.settings = Settings(database_url=url)
        self.store = open_store(self.settings)
        self.client = TestClient(create_app(self.settings, store=self.store))

    def __enter__(self) -> TestClient:
        return self.client.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)
        self.store.close()


def _assert_pending(response) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    error = response.json()["error"]
    assert (error["code"], error["status"]) == ("migrations_pending", 503)
    assert "atende-logs db upgrade" in error["message"]


def test_schema_state_ready_at_head_or_past_it_and_pending_behind() -> None:
    known = revisions()

    assert schema_state(known[-1]) == Ready("current")
    assert schema_state(NEWER) == Ready("ahead")
    assert schema_state(known[-2]) == PENDING
    assert schema_state(known[0]) == PENDING
    assert schema_state(None) == PENDING


def test_revisions_are_the_migrations_oldest_first() -> None:
    known = revisions()

    assert known[0] == "0001_initial"
    assert list(known) == sorted(known)  # the ids are numbered in order
    assert len(set(known)) == len(known) >= 7


def test_nothing_is_pending_on_a_database_a_newer_release_migrated(fresh_url: str) -> None:
    upgrade(fresh_url)
    stamp(fresh_url, NEWER)

    assert pending(fresh_url) == []


def test_a_database_ahead_of_this_code_is_ready(fresh_url: str) -> None:
    upgrade(fresh_url)
    stamp(fresh_url, NEWER)  # a newer release ran its migrations first

    with Serving(fresh_url) as client:
        ready = client.get("/readyz")

    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "migrations": "ahead"}


def test_a_database_one_revision_behind_is_not_ready(fresh_url: str) -> None:
    upgrade(fresh_url, revisions()[-2])

    with Serving(fresh_url) as client:
        ready = client.get("/readyz")
        alive = client.get("/healthz")

    _assert_pending(ready)
    assert alive.status_code == 200


def test_an_unmigrated_database_is_not_ready(fresh_url: str) -> None:
    with Serving(fresh_url) as client:
        _assert_pending(client.get("/readyz"))


def test_a_serving_process_follows_the_rollout_within_a_second(fresh_url: str) -> None:
    """Old code serving while the schema moves: behind (503), upgraded to this code's head
    (200 current), then migrated by the next release (still 200, ahead)."""
    upgrade(fresh_url, revisions()[-2])
    with Serving(fresh_url) as client:
        behind = client.get("/readyz")
        upgrade(fresh_url)
        time.sleep(DATABASE_TTL_S)  # past the cached answer
        current = client.get("/readyz")
        stamp(fresh_url, NEWER)
        time.sleep(DATABASE_TTL_S)
        ahead = client.get("/readyz")

    _assert_pending(behind)
    assert (current.status_code, current.json()) == (200, {"status": "ok", "migrations": "current"})
    assert (ahead.status_code, ahead.json()) == (200, {"status": "ok", "migrations": "ahead"})


def test_the_openapi_document_states_the_additive_rule() -> None:
    operation = create_app(Settings()).openapi()["paths"]["/readyz"]["get"]

    assert "additive" in operation["description"]
    assert "ahead" in operation["responses"]["200"]["description"]


def test_a_process_starting_on_a_database_ahead_serves(fresh_url: str) -> None:
    """An old process restarted mid-rollout: its start-up check lets it in, as /readyz does."""
    upgrade(fresh_url)
    stamp(fresh_url, NEWER)

    with TestClient(create_app(Settings(database_url=fresh_url))) as client:
        ready = client.get("/readyz")

    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "migrations": "ahead"})


def test_db_upgrade_of_an_older_release_leaves_a_newer_schema_alone(
    fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(fresh_url)
    stamp(fresh_url, NEWER)
    monkeypatch.setenv("ATENDE_DATABASE_URL", fresh_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    assert "newer than this release" in result.output
    assert current(fresh_url) == NEWER
