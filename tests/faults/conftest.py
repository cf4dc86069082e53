"""Fault injection: real servers killed -9, PostgreSQL connections ended, PostgreSQL stopped.

``make test`` runs this folder as a step of its own after the main suite: one test here
stops the PostgreSQL every other test uses. A plain ``pytest`` orders that test last.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from faults._cluster import Cluster, cluster_of

STOPS_POSTGRES = "stops_postgres"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{STOPS_POSTGRES}: stops and starts the PostgreSQL cluster of ATENDE_TEST_DATABASE_URL "
        "(every other test's database); runs last",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort: everything else keeps its order, before the tests that stop PostgreSQL.
    items.sort(key=lambda item: item.get_closest_marker(STOPS_POSTGRES) is not None)


@pytest.fixture
def postgres_cluster(postgres_url: str) -> Iterator[Cluster]:
    """The cluster behind the test database, started again (and waited for) after the test
    whatever happened. Fails instead of skipping where ATENDE_REQUIRE_POSTGRES=1 (CI)."""
    cluster = cluster_of(postgres_url)
    if isinstance(cluster, str):
        if os.environ.get("ATENDE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"ATENDE_REQUIRE_POSTGRES=1 but PostgreSQL cannot be stopped: {cluster}")
        pytest.skip(f"cannot stop PostgreSQL here: {cluster}")
    try:
        yield cluster
    finally:
        if not cluster.accepts_connections():
            try:
                cluster.ctl("start")
            except subprocess.CalledProcessError:
                pass  # already starting: waiting below tells whether it comes up
        cluster.wait_until_up()
