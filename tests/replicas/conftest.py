"""A real streaming replica for this folder's tests (``_pair``): made once, removed after."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from atende_logs.storage.migrate import upgrade
from replicas._pair import Pair, missing, primary_and_replica


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    why = missing()
    if why is not None:
        if os.environ.get("ATENDE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"ATENDE_REQUIRE_POSTGRES=1 but no replica can be made: {why}")
        pytest.skip(why)
    with primary_and_replica() as made:
        upgrade(made.primary.url)
        made.wait_caught_up()
        yield made
