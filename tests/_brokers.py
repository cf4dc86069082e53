"""The real brokers the consumer tests publish to, each behind the same few calls, under a
prefix of the test's own (its streams, or exchanges and queues, deleted afterwards)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import aio_pika
import nats
import pytest
from nats.js.errors import NotFoundError

from atende_logs.consume.jetstream import names
from atende_logs.consume.rabbitmq import names as rabbit_names
from atende_logs.consume.source import read_reason

NATS_URL = os.environ.get("ATENDE_TEST_NATS_URL", "nats://127.0.0.1:4222")
AMQP_URL = os.environ.get("ATENDE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


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


@dataclass
class Rabbit:
    """RabbitMQ: the exchanges and queues of ``consume.rabbitmq``, under the test's prefix.
    Unacknowledged messages cannot be counted over AMQP; once the consumer's connection
    closed they are ready again, so ``ready`` tells what was not acknowledged."""

    url: str
    prefix: str
    published: int = 0

    async def _channel(self) -> tuple[Any, Any]:
        connection = await aio_pika.connect(self.url)
        return connection, await connection.channel()

    def publish(self, messages: list[tuple[str, bytes]]) -> None:
        asyncio.run(self._publish(messages))

    async def _publish(self, messages: list[tuple[str, bytes]]) -> None:
        connection, channel = await self._channel()
        logs, _ = rabbit_names(self.prefix)
        exchange = await channel.declare_exchange(logs, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(logs, durable=True)
        await queue.bind(exchange, routing_key=f"{self.prefix}.logs.#")
        for subject, data in messages:
            await exchange.publish(aio_pika.Message(data), routing_key=subject)
        self.published += len(messages)
        await connection.close()

    def dead_letters(self) -> list[DeadLetter]:
        return asyncio.run(self._dead_letters())

    async def _dead_letters(self) -> list[DeadLetter]:
        connection, channel = await self._channel()
        found = []
        try:
            queue = await channel.declare_queue(rabbit_names(self.prefix)[1], passive=True)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                reason = read_reason(str(message.headers["Atende-Reason"]))
                found.append(DeadLetter(message.routing_key or "", message.body, reason))
        except aio_pika.exceptions.ChannelClosed:
            pass
        await connection.close()
        return found

    def ready(self) -> int:
        return asyncio.run(self._ready())

    async def _ready(self) -> int:
        connection, channel = await self._channel()
        queue = await channel.declare_queue(rabbit_names(self.prefix)[0], passive=True)
        await connection.close()
        return int(queue.declaration_result.message_count or 0)

    def acknowledged(self) -> int:
        return self.published - self.ready()

    def waiting(self) -> tuple[int, int, int]:
        return self.ready(), 0, 0

    def cleanup(self) -> None:
        asyncio.run(self._cleanup())

    async def _cleanup(self) -> None:
        connection, channel = await self._channel()
        for name in rabbit_names(self.prefix):
            await channel.queue_delete(name)
            await channel.exchange_delete(name)
        await connection.close()
