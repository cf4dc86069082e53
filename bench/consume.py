"""``python -m bench.consume``: ``atende-logs consume`` per broker, per database, with 1, 2
and 4 workers: records/s, and the latency from publish to visible in the API (issue 19).

Each run has a subject prefix (NATS stream, RabbitMQ exchange and queue) and customers of
its own, all removed afterwards. The workers start first and are waited for; then:

- **records/s**: ``--records`` CDRs, ``--per-message`` to an NDJSON message, are published
  as fast as the broker confirms them, and the clock runs from the first publish to the
  moment the API's ``total`` counts them all (polled every 50 ms);
- **latency**: ``--samples`` one-record messages, published at ``--rate`` a second to a
  second customer while a poller lists that customer's CDRs through the API every 20 ms;
  a record's latency is its first listing's time minus its publish time (the poll
  interval is part of it).

The API is a real ``atende-logs serve`` (one worker) on the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aio_pika
import httpx
import nats
import orjson
import psycopg
from nats.js.errors import NotFoundError

from atende_logs.config import Settings
from atende_logs.consume.jetstream import names as nats_names
from atende_logs.consume.rabbitmq import names as rabbit_names
from atende_logs.kinds import CDRS
from atende_logs.storage import open_store
from atende_logs.storage.migrate import upgrade
from bench.common import child_env, percentiles
from bench.server import Server, cli_path, free_port

BROKERS = {"nats": "nats://127.0.0.1:4222", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/"}
SCHEMA = "atende_bench_consume"


@dataclass
class Result:
    broker: str
    db: str
    workers: int
    records: int
    seconds: float
    publish_seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def cdr(n: int, tag: str) -> bytes:
    moment = (
        f"2022-03-{1 + n // 86400 % 28:02d}T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:"
        f"{n % 60:02d}.000Z"
    )
    return orjson.dumps({"callid": f"{tag}-{n}", "ori_start_time": moment, "has_audio": False})


def database(db: str, workdir: Path, postgres_url: str) -> str:
    """A migrated database: a SQLite file of the work directory, or a PostgreSQL schema."""
    if db == "sqlite":
        workdir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{workdir / 'consume.db'}"
    else:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        separator = "&" if "?" in postgres_url else "?"
        url = f"{postgres_url}{separator}options={quote(f'-csearch_path={SCHEMA}')}"
    upgrade(url)
    return url


def tenant(url: str) -> tuple[int, str]:
    store = open_store(Settings(database_url=url))
    try:
        customer = store.create_customer(f"bench consume {uuid.uuid4().hex[:8]}")
        return customer.id, store.create_api_key(customer.id)[1]
    finally:
        store.close()


class Publisher:
    """Publishes to the stream, or exchange, the consumer made for ``prefix``; waits for
    each confirmation (JetStream's ack, RabbitMQ's publisher confirm)."""

    def __init__(self, broker: str, url: str, prefix: str) -> None:
        self.broker, self.url, self.prefix = broker, url, prefix

    async def __aenter__(self) -> Publisher:
        if self.broker == "nats":
            self.client = await nats.connect(self.url)
            self.js = self.client.jetstream()
            await _until_async(self._stream_exists)
        else:
            self.connection = await aio_pika.connect(self.url)
            channel = await self.connection.channel(publisher_confirms=True)
            logs, _ = rabbit_names(self.prefix)
            self.exchange = await channel.declare_exchange(
                logs, aio_pika.ExchangeType.TOPIC, durable=True
            )
        return self

    async def _stream_exists(self) -> bool:
        try:
            await self.js.stream_info(nats_names(self.prefix)[0])
        except NotFoundError:
            return False
        return True

    async def publish(self, subject: str, data: bytes) -> None:
        if self.broker == "nats":
            await self.js.publish(subject, data)
        else:
            await self.exchange.publish(aio_pika.Message(data), routing_key=subject)

    async def publish_all(self, messages: list[tuple[str, bytes]], window: int = 200) -> None:
        for start in range(0, len(messages), window):
            chunk = messages[start : start + window]
            await asyncio.gather(*(self.publish(s, d) for s, d in chunk))

    async def __aexit__(self, *_: object) -> None:
        if self.broker == "nats":
            await self.client.close()
        else:
            await self.connection.close()


async def _until_async(condition: object, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the consumer's stream")
        await asyncio.sleep(0.1)


async def remove(broker: str, url: str, prefix: str) -> None:
    if broker == "nats":
        client = await nats.connect(url)
        for stream in nats_names(prefix)[:2]:
            try:
                await client.jetstream().delete_stream(stream)
            except NotFoundError:
                pass
        await client.close()
    else:
        connection = await aio_pika.connect(url)
        channel = await connection.channel()
        for name in rabbit_names(prefix):
            await channel.queue_delete(name)
            await channel.exchange_delete(name)
        await connection.close()


def total(api: httpx.Client, api_key: str) -> int:
    response = api.get(CDRS.path, params={"size": 1}, headers={"x-api-key": api_key})
    response.raise_for_status()
    return int(response.json()["total"])


def start_workers(
    url: str, database_url: str, prefix: str, workers: int, log: Path
) -> subprocess.Popen[bytes]:
    port = free_port() if workers == 1 else free_ports(workers)
    command = [str(cli_path()), "consume", "--broker", url, "--prefix", prefix]
    command += ["--workers", str(workers), "--metrics-port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=child_env(database_url), stdout=out, stderr=out, start_new_session=True
        )
    deadline = time.monotonic() + 120
    # Every worker serves its metrics before it connects: all answering is all started.
    for i in range(workers):
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port + i}/metrics", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"consume did not start: see {log}") from None
                time.sleep(0.1)
    return process


def free_ports(count: int) -> int:
    """A first port whose ``count`` next ports are free too (workers take port + i)."""
    while True:
        first = free_port()
        if all(_port_free(first + i) for i in range(count)):
            return first


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def stop_workers(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, 15)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


def throughput(
    publisher: Publisher, loop: asyncio.AbstractEventLoop, api: httpx.Client, args: Run
) -> tuple[float, float]:
    """Seconds until every record is listed, and of those the publishing's own."""
    customer, api_key = tenant(args.database_url)
    where = f"{args.prefix}.logs.{customer}.cdrs"
    messages = [
        (where, b"".join(cdr(n, "t") + b"\n" for n in range(i, i + args.per_message)))
        for i in range(0, args.records, args.per_message)
    ]
    records = len(messages) * args.per_message
    started = time.monotonic()
    loop.run_until_complete(publisher.publish_all(messages))
    published = time.monotonic() - started
    while total(api, api_key) < records:
        time.sleep(0.05)
    return time.monotonic() - started, published


def latency(
    publisher: Publisher, loop: asyncio.AbstractEventLoop, api: httpx.Client, args: Run
) -> list[float]:
    customer, api_key = tenant(args.database_url)
    where = f"{args.prefix}.logs.{customer}.cdrs"
    published: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set() or len(seen) < len(published):
            response = api.get(
                CDRS.path, params={"size": args.samples}, headers={"x-api-key": api_key}
            )
            now = time.monotonic()
            for item in response.json()["items"]:
                seen.setdefault(item["callid"], now)
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    for n in range(args.samples):
        callid = f"l-{n}"
        published[callid] = time.monotonic()
        loop.run_until_complete(publisher.publish(where, cdr(n, "l")))
        time.sleep(max(0.0, published[callid] + 1 / args.rate - time.monotonic()))
    done.set()
    poller.join(120)
    return [seen[callid] - at for callid, at in published.items()]


@dataclass
class Run:
    database_url: str
    prefix: str
    records: int
    per_message: int
    samples: int
    rate: float


def one(
    broker: str, db: str, database_url: str, workers: int, options: argparse.Namespace
) -> Result:
    url = BROKERS[broker]
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    run = Run(
        database_url, prefix, options.records, options.per_message, options.samples, options.rate
    )
    log = options.workdir / "consume.log"
    loop = asyncio.new_event_loop()
    process = start_workers(url, database_url, prefix, workers, log)
    try:
        with (
            Server(
                database_url, options.workdir / "serve.log", env=child_env(database_url)
            ) as server,
            httpx.Client(base_url=server.url, timeout=30) as api,
        ):
            publisher = loop.run_until_complete(Publisher(broker, url, prefix).__aenter__())
            try:
                seconds, publishing = throughput(publisher, loop, api, run)
                waits = latency(publisher, loop, api, run)
            finally:
                loop.run_until_complete(publisher.__aexit__())
    finally:
        stop_workers(process)
        loop.run_until_complete(remove(broker, url, prefix))
        loop.close()
    marks = percentiles([w * 1000 for w in waits])
    return Result(
        broker, db, workers, options.records, seconds, publishing, marks["p50"], marks["p99"]
    )


def table(results: list[Result]) -> str:
    lines = [
        "| broker | database | workers | records | seconds (publish) | records/s "
        "| p50 ms | p99 ms |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        lines.append(
            f"| {r.broker} | {r.db} | {r.workers} | {r.records:,} | "
            f"{r.seconds:.1f} ({r.publish_seconds:.1f}) | "
            f"{r.rate:,.0f} | {r.p50_ms:.0f} | {r.p99_ms:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.consume", description=__doc__)
    parser.add_argument("--broker", nargs="+", choices=list(BROKERS), default=list(BROKERS))
    parser.add_argument(
        "--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--records", type=int, default=20_000, help="records per run (20,000)")
    parser.add_argument("--per-message", type=int, default=10, help="records a message (10)")
    parser.add_argument("--samples", type=int, default=100, help="latency samples (100)")
    parser.add_argument("--rate", type=float, default=25.0, help="latency messages a second")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/atende-bench-consume"))
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    options = parser.parse_args(argv)
    options.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for db in options.db:
        database_url = database(db, options.workdir, options.postgres_url)
        for broker in options.broker:
            for workers in options.workers:
                result = one(broker, db, database_url, workers, options)
                print(table([result]).splitlines()[-1], flush=True)
                results.append(result)
    print(table(results))


if __name__ == "__main__":
    main()
