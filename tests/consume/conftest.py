"""A broker of each kind, under a prefix of the test's own, removed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from _brokers import AMQP_URL, NATS_URL, Nats, Rabbit, new_prefix, require


@pytest.fixture(params=["nats", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each real broker in turn: every test using it runs on both."""
    made: Nats | Rabbit
    if request.param == "nats":
        require(NATS_URL)
        made = Nats(NATS_URL, new_prefix())
    else:
        require(AMQP_URL)
        made = Rabbit(AMQP_URL, new_prefix())
    yield made
    made.cleanup()
