"""One consumer process: the source its URL names, the loop, the metrics, the signals."""

from __future__ import annotations

import asyncio
import signal
from datetime import tzinfo
from typing import TYPE_CHECKING

from atende_logs.consume.loop import Consumer
from atende_logs.consume.metrics import ConsumerMetrics
from atende_logs.consume.source import Source

if TYPE_CHECKING:
    from atende_logs.storage.base import Store

SCHEMES = ("nats", "amqp", "amqps")


async def open_source(url: str, prefix: str, ack_wait: float, batch_size: int = 500) -> Source:
    """The broker ``url`` names: ``nats://`` (JetStream) or ``amqp://`` (RabbitMQ)."""
    scheme = url.split("://", 1)[0].lower()
    # Each client is imported only when asked for: they come with the `broker` extra.
    if scheme == "nats":
        from atende_logs.consume.jetstream import JetStreamSource

        return await JetStreamSource.open(url, prefix, ack_wait)
    if scheme in ("amqp", "amqps"):
        from atende_logs.consume.rabbitmq import RabbitSource

        return await RabbitSource.open(url, prefix, prefetch=batch_size)
    raise ValueError(f"broker URL must start with nats:// or amqp://: {url}")


async def consume(
    store: Store,
    url: str,
    *,
    prefix: str,
    zone: tzinfo,
    batch_size: int,
    wait: float,
    once: bool,
    metrics_port: int | None = None,
    ack_wait: float = 30.0,
) -> ConsumerMetrics:
    """Consume from ``url`` until SIGTERM or SIGINT (then the round under way finishes),
    or, ``once``, until nothing is left. ``ack_wait``: seconds before JetStream delivers
    again a message taken and not acknowledged (a killed worker's); RabbitMQ needs none,
    it sees the connection close."""
    metrics = ConsumerMetrics()
    if metrics_port is not None:
        metrics.serve(metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    source = await open_source(url, prefix, ack_wait, batch_size)
    try:
        consumer = Consumer(
            store,
            source,
            prefix=prefix,
            zone=zone,
            batch_size=batch_size,
            wait=wait,
            metrics=metrics,
        )
        await consumer.run(once=once, stop=stop)
    finally:
        await source.close()
    return metrics
