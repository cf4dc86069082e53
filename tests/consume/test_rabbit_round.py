"""A RabbitMQ round lingers a bounded time for more messages, whatever the flow."""

from __future__ import annotations

import asyncio
import time

import aio_pika

from _brokers import AMQP_URL, Rabbit, new_prefix, require
from atende_logs.consume.rabbitmq import LINGER, RabbitSource, names


def test_a_steady_trickle_does_not_hold_a_round_open_until_it_is_full() -> None:
    require(AMQP_URL)
    broker = Rabbit(AMQP_URL, new_prefix())
    try:
        taken, seconds = asyncio.run(_round_under_a_trickle(broker.prefix))
    finally:
        broker.cleanup()
    # One message every LINGER / 2: a linger per message would take all 40 (0.5 s).
    assert taken < 10, taken
    assert seconds < LINGER + 0.25, seconds


async def _round_under_a_trickle(prefix: str) -> tuple[int, float]:
    source = await RabbitSource.open(AMQP_URL, prefix, prefetch=500)
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(names(prefix)[0])

        async def trickle() -> None:
            for _ in range(40):
                await exchange.publish(aio_pika.Message(b"{}"), routing_key=f"{prefix}.logs.1.cdrs")
                await asyncio.sleep(LINGER / 2)

        producer = asyncio.create_task(trickle())
        first = await source.fetch(500, 5.0)
        started = time.monotonic()
        rest = await source.fetch(500, 5.0)
        seconds = time.monotonic() - started
        await producer
        return max(len(first), len(rest)), seconds
    finally:
        await connection.close()
        await source.close()
