"""The real brokers the consumer tests publish to, each behind the same few calls, under a
prefix of the test's own (its streams, or exchanges and queues, deleted afterwards)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass
from urllib.parse import urlparse

import nats
import pytest
from nats.js.errors import NotFoundError

from atende_logs.consume.jetstream import names
from atende_logs.consume.source import read_reason

NATS_URL = os.environ.get("ATENDE_TEST_NATS_URL", "nats://127.0.0.1:4222")


def reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=2):
            return True
    except OSError:
        return False


def require(url: str) -> None:
    """Skip without the broker, except where ATENDE_REQUIRE_BROKERS=1 (CI): fail there."""
    if reachable(url):
        return
    if os.environ.get("ATENDE_REQUIRE_BROKERS") == "1":
        pytest.fail(f"ATENDE_REQUIRE_BROKERS=1 but nothing answers at {url}")
    pytest.skip(f"no broker at {url}")


def new_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@dataclass
class DeadLetter:
    subject: str
    data: bytes
    reason: str


@dataclass
class Nats:
    url: str
    prefix: str

    def publish(self, messages: list[tuple[str, bytes]]) -> None:
        asyncio.run(self._publish(messages))

    async def _publish(self, messages: list[tuple[str, bytes]]) -> None:
        client = await nats.connect(self.url)
        js = client.jetstream()
        stream, dead, _ = names(self.prefix)
        try:
            await js.stream_info(stream)
        except NotFoundError:
            await js.add_stream(name=stream, subjects=[f"{self.prefix}.logs.>"])
        for subject, data in messages:
            await js.publish(subject, data)
        await client.close()

    def dead_letters(self) -> list[DeadLetter]:
        return asyncio.run(self._dead_letters())

    async def _dead_letters(self) -> list[DeadLetter]:
        client = await nats.connect(self.url)
        js = client.jetstream()
        _, dead, _ = names(self.prefix)
        found = []
        try:
            info = await js.stream_info(dead)
            for seq in range(1, (info.state.last_seq or 0) + 1):
                message = await js.get_msg(dead, seq)
                headers = message.headers or {}
                reason = read_reason(headers["Atende-Reason"])
                found.append(DeadLetter(message.subject, message.data or b"", reason))
        except NotFoundError:
            pass
        await client.close()
        return found

    def acknowledged(self) -> int:
        """How many messages the durable consumer has had acknowledged, in a row from the
        stream's first (JetStream's ack floor)."""
        return asyncio.run(self._acknowledged())

    async def _acknowledged(self) -> int:
        client = await nats.connect(self.url)
        stream, _, durable = names(self.prefix)
        info = await client.jetstream().consumer_info(stream, durable)
        await client.close()
        return info.ack_floor.stream_seq if info.ack_floor else 0

    def waiting(self) -> tuple[int, int, int]:
        """(pending, taken and not acknowledged, redelivered) of the durable consumer."""
        return asyncio.run(self._waiting())

    async def _waiting(self) -> tuple[int, int, int]:
        client = await nats.connect(self.url)
        stream, _, durable = names(self.prefix)
        info = await client.jetstream().consumer_info(stream, durable)
        await client.close()
        return info.num_pending or 0, info.num_ack_pending or 0, info.num_redelivered or 0

    def cleanup(self) -> None:
        asyncio.run(self._cleanup())

    async def _cleanup(self) -> None:
        client = await nats.connect(self.url)
        js = client.jetstream()
        for stream in names(self.prefix)[:2]:
            try:
                await js.delete_stream(stream)
            except NotFoundError:
                pass
        await client.close()
