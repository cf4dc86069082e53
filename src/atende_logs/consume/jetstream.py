"""NATS JetStream behind ``Source``: one stream, one durable pull consumer shared by every
worker (each message goes to one of them), dead letters in a stream of their own."""

from __future__ import annotations

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from atende_logs.consume.routing import dead_subject
from atende_logs.consume.source import (
    REASON_HEADER,
    SUBJECT_HEADER,
    BrokerError,
    Delivery,
    one_line,
)

ACK_WAIT = 30.0
"""Seconds a taken message waits for its acknowledgement before it is delivered again:
longer than a batch's write, short enough that a killed worker's messages come back soon."""


def names(prefix: str) -> tuple[str, str, str]:
    """The stream, the dead letters' stream and the durable consumer of ``prefix``."""
    token = prefix.replace(".", "_").upper()
    return f"{token}_LOGS", f"{token}_DEAD", f"{prefix.replace('.', '-')}-consume"


class JetStreamSource:
    def __init__(self, client: Client, prefix: str) -> None:
        self.client = client
        self.js = client.jetstream()
        self.prefix = prefix
        self.stream, self.dead_stream, self.durable = names(prefix)
        self._sub: JetStreamContext.PullSubscription | None = None

    @classmethod
    async def open(cls, url: str, prefix: str, ack_wait: float = ACK_WAIT) -> JetStreamSource:
        """Connect (reconnecting for ever after), and make the streams and the durable
        consumer if they are not there yet: every worker may start first."""
        try:
            client = await nats.connect(
                url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=5
            )
        except (OSError, NatsError) as exc:
            raise BrokerError(f"NATS at {url}: {exc}") from exc
        source = cls(client, prefix)
        await source._declare(ack_wait)
        return source

    async def _declare(self, ack_wait: float) -> None:
        for name, subjects in (
            (self.stream, f"{self.prefix}.logs.>"),
            (self.dead_stream, f"{self.prefix}.dead.>"),
        ):
            try:
                await self.js.stream_info(name)
            except NotFoundError:
                config = StreamConfig(name=name, subjects=[subjects], storage=StorageType.FILE)
                await self.js.add_stream(config)
        self._sub = await self.js.pull_subscribe(
            f"{self.prefix}.logs.>",
            durable=self.durable,
            stream=self.stream,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait),
        )

    async def fetch(self, size: int, wait: float) -> list[Delivery]:
        try:
            assert self._sub is not None, "open() declares the subscription"
            messages = await self._sub.fetch(size, timeout=wait)
        except (NatsTimeout, TimeoutError):
            return []
        except NatsError as exc:
            raise BrokerError(str(exc) or type(exc).__name__) from exc
        return [_delivery(message) for message in messages]

    async def dead_letter(self, delivery: Delivery, reason: str) -> None:
        headers = {REASON_HEADER: one_line(reason), SUBJECT_HEADER: delivery.subject}
        await self.js.publish(
            dead_subject(self.prefix, delivery.subject), delivery.data, headers=headers
        )

    async def lag(self) -> int | None:
        try:
            info = await self.js.consumer_info(self.stream, self.durable)
        except NatsError:
            return None
        return int(info.num_pending or 0)

    async def close(self) -> None:
        # Not drain(): a pull subscription makes it wait out its timeout. Whatever was
        # taken and not acknowledged is delivered again after the ack wait.
        await self.client.close()


def _delivery(message: Msg) -> Delivery:
    return Delivery(message.subject, message.data, message.ack, message.nak)
