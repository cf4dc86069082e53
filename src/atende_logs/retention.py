"""Retention (LGPD, issue 5): which logs are past their customer's retention, and purging
them in batches small enough that ingestion carries on between them.

Erasure needs no policy beyond the store's ``erase_phone``; docs/lgpd.md describes both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from atende_logs.errors import NotFoundError
from atende_logs.kinds import KINDS, Kind
from atende_logs.storage.base import Store

DAY_MS = 86_400_000
DEFAULT_BATCH_SIZE = 1_000
DEFAULT_PAUSE_S = 0.1
"""Rest between two batches. SQLite has one writer: a writer waiting for the lock polls it
every 100 ms at most once it has waited a while, so a rest that long lets every waiting
ingest in before the next batch takes the lock again."""


@dataclass(frozen=True)
class Purged:
    """What a purge did (or, dry, would do) to one kind of one customer's logs."""

    customer_id: int
    kind: str
    retention_days: int
    before_ms: int
    """Documents older than this epoch millisecond were (or would be) deleted."""
    deleted: int


def purge(
    store: Store,
    *,
    default_days: int,
    now_ms: int | None = None,
    customer_id: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    pause_s: float = DEFAULT_PAUSE_S,
) -> list[Purged]:
    """Delete every document older than its customer's retention, counted from ``now_ms``
    (the clock, injectable for tests; default: now).

    ``customer_id`` limits the purge to one customer; ``default_days`` applies to customers
    without a retention of their own. Each batch of ``batch_size`` documents is its own
    transaction, followed by a rest of ``pause_s``. A dry run only counts.
    Raises NotFoundError when ``customer_id`` names no customer.
    """
    if customer_id is not None and store.get_customer(customer_id) is None:
        raise NotFoundError(f"cliente {customer_id} não existe")
    ids = [customer_id] if customer_id is not None else [c.id for c in store.list_customers()]
    policies = store.retention_days()
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    kept_days = {customer: policies.get(customer, default_days) for customer in ids}
    cuts = {customer: now_ms - days * DAY_MS for customer, days in kept_days.items()}
    dropped: dict[tuple[int, str], int] = {}
    if customer_id is None and not dry_run and cuts:
        # A time partition past every customer's cut goes whole (PostgreSQL; SQLite has
        # none): what is left is deleted row by row below (docs/partitions.md).
        everyone = min(cuts.values())
        for kind in KINDS.values():
            for customer, rows in store.drop_partitions_before(kind, everyone).items():
                dropped[customer, kind.name] = rows
    done: list[Purged] = []
    for customer, before_ms in cuts.items():
        days = kept_days[customer]
        for kind in KINDS.values():
            if dry_run:
                deleted = store.count_before(customer, kind, before_ms)
            else:
                in_partitions = dropped.get((customer, kind.name), 0)
                deleted = in_partitions
                deleted += _delete_all(store, customer, kind, before_ms, batch_size, pause_s)
                # The change feed forgets removals as old as the logs it keeps (docs/sync.md),
                # and the change rows of records dropped with their partition.
                if in_partitions:
                    store.forget_expired_changes(customer, kind)
                _prune_all(store, customer, kind, before_ms, batch_size, pause_s)
            done.append(Purged(customer, kind.name, days, before_ms, deleted))
    return done


def _delete_all(
    store: Store, customer_id: int, kind: Kind, before_ms: int, batch_size: int, pause_s: float
) -> int:
    total = 0
    while True:
        deleted = store.delete_before(customer_id, kind, before_ms, batch_size)
        total += deleted
        if deleted < batch_size:
            return total
        time.sleep(pause_s)


def _prune_all(
    store: Store, customer_id: int, kind: Kind, before_ms: int, batch_size: int, pause_s: float
) -> None:
    while store.prune_changes(customer_id, kind, before_ms, batch_size) == batch_size:
        time.sleep(pause_s)
