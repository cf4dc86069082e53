"""RabbitMQ behind ``Source``: a topic exchange, one durable queue shared by every worker
(each message goes to one of them), dead letters through an exchange and queue of their
own. A worker's connection closing gives its unacknowledged messages back at once."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import AMQPError

from atende_logs.consume.routing import dead_subject
from atende_logs.consume.source import (
    REASON_HEADER,
    SUBJECT_HEADER,
    BrokerError,
    Delivery,
    one_line,
)

LINGER = 0.05
"""Seconds a round may wait for more messages once it has its first: a bound for the
round, not per message, or a steady trickle (one message every 40 ms) would keep a round
open until it is full, holding every message it took unstored meanwhile."""


def names(prefix: str) -> tuple[str, str]:
    """The exchange and queue of logs, and the exchange and queue of dead letters."""
    return f"{prefix}.logs", f"{prefix}.dead"


class RabbitSource:
    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractChannel,
        queue: AbstractQueue,
        dead: AbstractExchange,
        prefix: str,
    ) -> None:
        self.connection = connection
        self.channel = channel
        self.queue = queue
        self.dead = dead
        self.prefix = prefix
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

    @classmethod
    async def open(cls, url: str, prefix: str, prefetch: int) -> RabbitSource:
        """Connect (reconnecting by itself after), declare what is missing, start taking
        at most ``prefetch`` unacknowledged messages: a round's worth, so N workers share."""
        try:
            connection = await aio_pika.connect_robust(url, timeout=5)
        except (OSError, AMQPError) as exc:
            raise BrokerError(f"RabbitMQ at {url}: {exc}") from exc
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=prefetch)
        logs, dead = names(prefix)
        exchange = await channel.declare_exchange(logs, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(logs, durable=True)
        await queue.bind(exchange, routing_key=f"{prefix}.logs.#")
        dead_exchange = await channel.declare_exchange(
            dead, aio_pika.ExchangeType.TOPIC, durable=True
        )
        dead_queue = await channel.declare_queue(dead, durable=True)
        await dead_queue.bind(dead_exchange, routing_key="#")
        source = cls(connection, channel, queue, dead_exchange, prefix)
        await queue.consume(source._inbox.put)
        return source

    async def fetch(self, size: int, wait: float) -> list[Delivery]:
        try:
            first = await asyncio.wait_for(self._inbox.get(), wait)
        except TimeoutError:
            return []
        messages = [first]
        # Pushed messages come in bursts: a short linger fills the round, as a pull would.
        deadline = asyncio.get_running_loop().time() + LINGER
        while len(messages) < size:
            if not self._inbox.empty():
                messages.append(self._inbox.get_nowait())
                continue
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                messages.append(await asyncio.wait_for(self._inbox.get(), left))
            except TimeoutError:
                break
        return [_delivery(message) for message in messages]

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        headers: dict[str, Any] = {
            REASON_HEADER: one_line(reason),
            SUBJECT_HEADER: delivery.subject,
        }
        message = aio_pika.Message(
            delivery.data, headers=headers, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
        )
        try:
            await self.dead.publish(
                message, routing_key=dead_subject(self.prefix, delivery.subject)
            )
        except AMQPError as exc:
            raise BrokerError(f"dead letter not confirmed: {exc}") from exc

    async def lag(self) -> int | None:
        try:
            declared = await self.channel.declare_queue(self.queue.name, passive=True)
        except AMQPError:
            return None
        count = declared.declaration_result.message_count
        return None if count is None else int(count)

    async def close(self) -> None:
        await self.connection.close()


def _delivery(message: AbstractIncomingMessage) -> Delivery:
    async def nak() -> None:
        await message.nack(requeue=True)

    return Delivery(message.routing_key or "", message.body, message.ack, nak)
