"""The one interface both brokers stand behind: batches of deliveries, settled one by one."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol


class BrokerError(Exception):
    """The broker could not be reached or refused: back off and try again."""


@dataclass
class Delivery:
    """One message as taken from the broker, not yet acknowledged."""

    subject: str
    data: bytes
    ack: Callable[[], Awaitable[None]] = field(repr=False)
    nak: Callable[[], Awaitable[None]] = field(repr=False)
    """Give it back, to be delivered again (to this worker or another)."""
    settled: bool = False


class Source(Protocol):
    async def fetch(self, size: int, wait: float) -> list[Delivery]:
        """Up to ``size`` deliveries, waiting at most ``wait`` seconds for the first; an
        empty list when nothing came."""
        ...

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Publish a copy of ``delivery`` with ``reason`` where bad messages go, confirmed
        by the broker before this returns."""
        ...

    async def lag(self) -> int | None:
        """Messages waiting to be delivered, when the broker tells."""
        ...

    async def close(self) -> None: ...


REASON_HEADER = "Atende-Reason"
SUBJECT_HEADER = "Atende-Subject"


def one_line(reason: str, limit: int = 3000) -> str:
    """A reason fit for a header: one line of ASCII, bounded. Other characters are written
    as JSON writes them (``\\u00e1``), so ``json.loads('"' + value + '"')`` reads it back:
    NATS headers are ASCII."""
    text = " ".join(reason.split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return json.dumps(text)[1:-1]


def read_reason(header: str) -> str:
    """The reason ``one_line`` wrote."""
    text: str = json.loads(f'"{header}"')
    return text
