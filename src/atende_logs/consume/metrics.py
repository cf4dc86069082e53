"""What a consumer counts, on a registry of its own, served on a port of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class ConsumerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.batches = Counter(
            "atende_consume_batches", "Transactions committed", registry=self.registry
        )
        self.messages = Counter(
            "atende_consume_messages", "Messages acknowledged", registry=self.registry
        )
        self.records = Counter(
            "atende_consume_records",
            "Records by outcome: stored (new), replaced, rejected",
            ["outcome"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "atende_consume_dead_letters", "Messages copied to dead letters", registry=self.registry
        )
        self.failures = Counter(
            "atende_consume_failures",
            "Rounds given back unacknowledged (store or broker down)",
            registry=self.registry,
        )
        self.lag = Gauge(
            "atende_consume_lag", "Messages waiting in the broker", registry=self.registry
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
