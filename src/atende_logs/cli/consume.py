"""``atende-logs consume``: logs in from NATS JetStream or RabbitMQ, by N worker processes."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
from collections.abc import Sequence
from typing import Annotated

import typer

from atende_logs.cli.options import errors, store_session
from atende_logs.config import get_settings
from atende_logs.query.times import zone


def consume(
    broker: Annotated[
        str,
        typer.Option(
            "--broker", help="nats://host:4222 (JetStream) or amqp://user:pass@host:5672/vhost."
        ),
    ],
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Consumer processes sharing the work.")
    ] = 1,
    once: Annotated[
        bool, typer.Option("--once", help="Drain what is waiting, then exit (tests, backfills).")
    ] = False,
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Messages taken, and written, per round.")
    ] = 500,
    wait: Annotated[
        float,
        typer.Option("--wait", min=0.01, help="Seconds a round waits for messages to come."),
    ] = 1.0,
    prefix: Annotated[
        str, typer.Option("--prefix", help="Subjects' first token: <prefix>.logs.<customer>...")
    ] = "atende",
    ack_wait: Annotated[
        float,
        typer.Option(
            "--ack-wait",
            min=1,
            help="JetStream: seconds before a message taken and not acknowledged (a killed "
            "worker's) is delivered again. Set when the durable consumer is made.",
        ),
    ] = 30.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve Prometheus metrics on 127.0.0.1 at this port (worker i: port + i).",
        ),
    ] = None,
) -> None:
    """Consume logs from a message broker: at-least-once, stored exactly once."""
    if not broker.startswith(("nats://", "amqp://", "amqps://")):
        errors.print("[red]error:[/red] --broker must be a nats:// or amqp:// URL")
        raise typer.Exit(2)
    args = (broker, once, batch, wait, prefix, ack_wait, metrics_port)
    if workers == 1:
        raise typer.Exit(_worker(*args))
    # Processes, not threads: each has its own store connections and its own core.
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_child, args=(*args[:6], _port(metrics_port, i)), daemon=False)
        for i in range(workers)
    ]
    for child in children:
        child.start()
    signal.signal(signal.SIGTERM, lambda *_: _terminate(children))
    try:
        for child in children:
            child.join()
    except KeyboardInterrupt:  # the children got SIGINT too, and finish their round
        for child in children:
            child.join()
    raise typer.Exit(max((child.exitcode or 0) for child in children))


def _terminate(children: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for child in children:
        child.terminate()


def _port(port: int | None, index: int) -> int | None:
    return None if port is None else port + index


def _child(
    broker: str,
    once: bool,
    batch: int,
    wait: float,
    prefix: str,
    ack_wait: float,
    metrics_port: int | None,
) -> None:
    raise SystemExit(_worker(broker, once, batch, wait, prefix, ack_wait, metrics_port))


def _worker(
    broker: str,
    once: bool,
    batch: int,
    wait: float,
    prefix: str,
    ack_wait: float,
    metrics_port: int | None,
) -> int:
    try:
        from atende_logs.consume.run import consume as run_consumer
    except ImportError as exc:
        errors.print(f"[red]error:[/red] {exc.name} missing: pip install 'atende-logs[broker]'")
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(message)s")
    settings = get_settings()
    with store_session() as store:
        asyncio.run(
            run_consumer(
                store,
                broker,
                prefix=prefix,
                zone=zone(settings.timezone),
                batch_size=batch,
                wait=wait,
                once=once,
                metrics_port=metrics_port,
                ack_wait=ack_wait,
            )
        )
    return 0
