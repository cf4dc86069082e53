"""The consumer: batches of messages through the ingest path, acknowledged after the commit.

Each round takes up to ``batch_size`` messages, groups their records by customer, kind and
dialer, and writes each group in one transaction (``Store.write_rows``) with
``newer_only``: a redelivered older version of a record (an earlier time) never replaces
the newer one already stored. A message is acknowledged only after its group committed.
Bad messages (not JSON, unknown customer, kind or dialer, only rejected records) are
copied with their reasons to the dead letters and acknowledged: they never block.
When the store or the broker fails, nothing more is acknowledged, what was taken is given
back, and the consumer backs off and tries again by itself.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from atende_logs.consume.metrics import ConsumerMetrics
from atende_logs.consume.routing import BadRoute, Route, route
from atende_logs.consume.source import Delivery, Source
from atende_logs.ingest.batch import prepare
from atende_logs.ingest.readers import read_records
from atende_logs.models import Rejection, Row

if TYPE_CHECKING:
    from atende_logs.storage.base import Store

log = logging.getLogger("atende_logs.consume")

_T = TypeVar("_T")

MAX_BACKOFF = 30.0


@dataclass
class _Group:
    """The records of one round for one route: the newest of each id, and whose they are."""

    rows: dict[str, Row] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    partial: list[tuple[Delivery, list[Rejection]]] = field(default_factory=list)

    def add(self, row: Row) -> None:
        # The newest of an id wins; of equal times the later delivered, as across rounds.
        held = self.rows.get(row.doc_id)
        if held is None or held.time_ms <= row.time_ms:
            self.rows[row.doc_id] = row


@dataclass
class _Plan:
    groups: dict[Route, _Group]
    dead: list[tuple[Delivery, str]]


class Consumer:
    def __init__(
        self,
        store: Store,
        source: Source,
        *,
        prefix: str,
        zone: tzinfo,
        batch_size: int = 500,
        wait: float = 1.0,
        metrics: ConsumerMetrics | None = None,
    ) -> None:
        self.store = store
        self.source = source
        self.prefix = prefix
        self.zone = zone
        self.batch_size = batch_size
        self.wait = wait
        self.metrics = metrics or ConsumerMetrics()
        self._known: set[tuple[int, int | None]] = set()
        # One thread for every store call: the store's connections stay with it.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consume-store")

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set or, ``once``, until a fetch finds nothing."""
        stop = stop or asyncio.Event()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    deliveries = await self.source.fetch(self.batch_size, self.wait)
                    await self._update_lag()
                    if not deliveries:
                        if once:
                            return
                        continue
                    await self.handle(deliveries)
                    failures = 0
                except Exception as exc:  # the store or the broker: both come back
                    failures += 1
                    self.metrics.failures.inc()
                    delay = min(MAX_BACKOFF, 0.2 * 2**failures)
                    log.warning("consume: %r; again in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
        finally:
            self._thread.shutdown(wait=True)

    async def handle(self, deliveries: list[Delivery]) -> None:
        """Store, dead-letter and acknowledge one round; on failure give back the rest."""
        try:
            plan = await self._in_thread(self._plan, deliveries)
            for delivery, reason in plan.dead:
                await self._dead_letter(delivery, reason)
            for where, group in plan.groups.items():
                await self._write(where, group)
        except BaseException:
            await _give_back(deliveries)
            raise

    async def _write(self, where: Route, group: _Group) -> None:
        if group.rows:
            rows = self.store.encode_rows(where.kind, list(group.rows.values()))
            inserted, replaced = await self._in_thread(
                self.store.write_rows,
                where.customer_id,
                where.kind,
                rows,
                where.dialer_id,
                newer_only=True,
            )
            self.metrics.batches.inc()
            self.metrics.records.labels("stored").inc(inserted)
            self.metrics.records.labels("replaced").inc(replaced)
        for delivery, rejections in group.partial:
            self.metrics.records.labels("rejected").inc(len(rejections))
            await self.source.dead_letter(delivery, _reasons(rejections, partial=True))
            self.metrics.dead_letters.inc()
        for delivery in group.deliveries:
            await delivery.ack()
            delivery.settled = True
            self.metrics.messages.inc()

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        await self.source.dead_letter(delivery, reason)
        await delivery.ack()
        delivery.settled = True
        self.metrics.dead_letters.inc()
        self.metrics.messages.inc()
        log.info("consume: dead letter from %s: %s", delivery.subject, reason)

    def _plan(self, deliveries: list[Delivery]) -> _Plan:
        """Route and validate every message (this runs in the store's thread: it may ask
        the store whether a customer or dialer exists)."""
        plan = _Plan({}, [])
        for delivery in deliveries:
            try:
                where = route(self.prefix, delivery.subject)
            except BadRoute as exc:
                plan.dead.append((delivery, str(exc)))
                continue
            unknown = self._unknown(where)
            if unknown:
                plan.dead.append((delivery, unknown))
                continue
            records = read_records(io.BytesIO(delivery.data))
            rows: list[Row] = []
            rejections: list[Rejection] = []
            for item in prepare(where.kind, records, self.zone, where.dialer_id):
                if isinstance(item, Rejection):
                    rejections.append(item)
                else:
                    rows.append(item)
            if not rows:
                self.metrics.records.labels("rejected").inc(len(rejections))
                reason = _reasons(rejections) if rejections else "mensagem sem registros"
                plan.dead.append((delivery, reason))
                continue
            group = plan.groups.setdefault(where, _Group())
            for row in rows:
                group.add(row)
            group.deliveries.append(delivery)
            if rejections:
                group.partial.append((delivery, rejections))
        return plan

    def _unknown(self, where: Route) -> str | None:
        """Why the route names no customer (or dialer) of ours; None when it does."""
        key = (where.customer_id, where.dialer_id)
        if key in self._known:
            return None
        # Only what exists is remembered: a customer created later is seen then.
        if self.store.get_customer(where.customer_id) is None:
            return f"cliente desconhecido: {where.customer_id}"
        if where.dialer_id is not None:
            if self.store.get_dialer(where.customer_id, where.dialer_id) is None:
                return f"discador desconhecido: {where.dialer_id}"
        self._known.add(key)
        return None

    async def _update_lag(self) -> None:
        lag = await self.source.lag()
        if lag is not None:
            self.metrics.lag.set(lag)

    async def _in_thread(self, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, lambda: call(*args, **kwargs))


async def _give_back(deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        if delivery.settled:
            continue
        try:
            await delivery.nak()
        except Exception:  # the broker will redeliver once its ack wait is over anyway
            pass


def _reasons(rejections: list[Rejection], partial: bool = False) -> str:
    listed = [{"position": r.position, "reason": r.reason} for r in rejections]
    prefix = "registros recusados (os demais foram gravados): " if partial else "recusada: "
    return prefix + orjson.dumps(listed).decode()
