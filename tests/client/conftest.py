"""A real server per backend, holding a customer's demo data plus a few odd documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from _remote import Doc, Loaded, Remote, Server, load, paged_by_hand
from atende_logs.kinds import KINDS
from atende_logs.storage import Store


@pytest.fixture(scope="session")
def loaded(store: Store, database_url: str) -> Loaded:
    return load(store, database_url)


@pytest.fixture(scope="session")
def remote(
    loaded: Loaded, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Remote]:
    """The session's server on this backend; tests that kill a server start their own."""
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    log = tmp_path_factory.mktemp("server") / "server.log"
    with Server(database_url, log) as server:
        yield Remote(server, loaded.key, loaded.token, backend)


@pytest.fixture
def own_server(loaded: Loaded, tmp_path: Path) -> Iterator[Remote]:
    """A server of this test's own, over the same data: it may be killed, and if it does not
    come back only this test fails."""
    backend = "postgres" if loaded.database_url.startswith("postgresql") else "sqlite"
    with Server(loaded.database_url, tmp_path / "server.log") as server:
        yield Remote(server, loaded.key, loaded.token, backend)


@pytest.fixture(scope="session")
def reference(remote: Remote) -> dict[str, list[Doc]]:
    """Each kind's items on the session's server, paged by hand."""
    return {kind: paged_by_hand(remote, kind) for kind in KINDS}
