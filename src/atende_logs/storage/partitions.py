"""Time partitions of the log tables on PostgreSQL (issue 18; docs/partitions.md).

Each log table is partitioned by range of ``time_ms``: one partition per period of
``months`` calendar months (UTC), named ``<table>_pYYYYMM`` after its first month, and a
default partition, ``<table>_default``, that takes any row no period holds, so a write never
fails for want of a partition, whatever the record's date.

``ensure`` is the upkeep: it creates the current period's partition and ``ahead`` more.
``create_for`` makes the partitions of other periods when a write first needs them (an
import of last year's file), as long as the default partition holds no row of theirs:
rows are never moved out of the default partition while the table serves, because a
reader whose snapshot predates such a move could plan with the new partition and read
neither copy of the rows. ``drop_before`` drops the partitions that end at or before a
time. Each runs under an advisory lock (one at a time) and a lock timeout: creating or
dropping a partition needs a short exclusive lock of the default partition or the parent,
which waits for running statements; on a busy table it gives up and is tried again later
rather than queue every request behind it.

SQLite has no partitions: these are never called there.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from atende_logs.storage._common import quote

STRAY_YEARS = 20
"""How far from now a write makes a partition for its period: a record dated in 1970 or
3000 (a producer's bug) goes to the default partition instead of making one."""
MAX_PERIODS_PER_WRITE = 24
"""A batch spanning more periods than this makes the partitions of its two ends only."""
LOCK_TIMEOUT = "5s"
_UPKEEP_LOCK = 0x61746C70  # "atlp": the advisory lock key of partition upkeep
_BOUND = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True)
class Partition:
    """One partition of a log table: its name and its range [start_ms, end_ms); None for
    the default partition's."""

    name: str
    start_ms: int | None
    end_ms: int | None


def month_start(year: int, month: int) -> int:
    """The first millisecond of a calendar month, UTC."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


def period_of(time_ms: int, months: int) -> tuple[int, int]:
    """The (year, month) starting the period of ``months`` that holds ``time_ms``; periods
    are aligned on January of year 0, so every length tiles every year the same way."""
    moment = datetime.fromtimestamp(time_ms / 1000, UTC)
    index = (moment.year * 12 + moment.month - 1) // months * months
    return index // 12, index % 12 + 1


def partition_name(table: str, year: int, month: int) -> str:
    return f"{table}_p{year:04d}{month:02d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def partitions(connection: Any, table: str) -> list[Partition]:
    """The partitions of ``table``, by start (the default last)."""
    rows = connection.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        [table],
    ).fetchall()
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound)
        if match is None:
            found.append(Partition(name, None, None))
        else:
            found.append(Partition(name, int(match[1]), int(match[2])))
    return sorted(found, key=lambda p: (p.start_ms is None, p.start_ms or 0))


def default_sql(table: str) -> str:
    """The default partition: every row no period's partition holds."""
    return (
        f"CREATE TABLE IF NOT EXISTS {quote(default_name(table))} PARTITION OF {quote(table)} "
        "DEFAULT"
    )


def no_document_statistics_sql(table: str) -> str:
    """``table`` (a log table, or a partition of one) keeps no statistics of its documents.

    ANALYZE read and decompressed a sample of them in every partition, for statistics no
    query uses (no filter reads ``doc``): an ANALYZE of 22 partitions of attendant logs took
    9.1 s with them, 5.5 s without (docs/partitions.md). A partition does not
    inherit it from its table: each gets it when made."""
    return f"ALTER TABLE {quote(table)} ALTER COLUMN doc SET STATISTICS 0"


def create_default(connection: Any, table: str) -> None:
    connection.execute(default_sql(table))
    connection.execute(no_document_statistics_sql(default_name(table)))


def ensure(connection: Any, table: str, *, months: int, ahead: int, now_ms: int) -> list[Partition]:
    """Create the current period's partition of ``table`` and ``ahead`` more where missing;
    the ones created. ``connection`` is in a transaction of its own: the caller commits it."""
    return create_for(connection, table, periods_ahead(now_ms, months, ahead), months)


def create_for(
    connection: Any,
    table: str,
    periods: Iterable[tuple[int, int]],
    months: int,
    lock_timeout: str = LOCK_TIMEOUT,
) -> list[Partition]:
    """Create the partitions of ``periods`` (each a (year, month) that starts a period of
    ``months``) that ``table`` lacks; the ones created. A period overlapping a partition
    already there (``months`` changed since) or holding rows in the default partition is
    skipped: its rows stay where they are (see the module)."""
    _prepare(connection, lock_timeout)
    existing = partitions(connection, table)
    made = []
    for year, month in sorted(set(periods)):
        start, end = month_start(year, month), month_start(year, month + months)
        if any(_overlaps(p, start, end) for p in existing):
            continue
        held = connection.execute(
            f"SELECT 1 FROM {quote(default_name(table))} WHERE time_ms >= %s AND time_ms < %s "
            "LIMIT 1",
            [start, end],
        ).fetchone()
        if held:
            continue
        name = partition_name(table, year, month)
        connection.execute(
            f"CREATE TABLE {quote(name)} PARTITION OF {quote(table)} "
            f"FOR VALUES FROM ({start}) TO ({end})"
        )
        connection.execute(no_document_statistics_sql(name))
        made.append(Partition(name, start, end))
    return made


def periods_between(low_ms: int, high_ms: int, months: int) -> list[tuple[int, int]]:
    """The periods from ``low_ms``'s to ``high_ms``'s, those within ``STRAY_YEARS`` of now
    only, and at most ``MAX_PERIODS_PER_WRITE`` of them (then the two ends alone)."""
    now = time.time() * 1000
    span = STRAY_YEARS * 365 * 86_400_000
    low_ms, high_ms = max(low_ms, int(now - span)), min(high_ms, int(now + span))
    if low_ms > high_ms:
        return []
    first, last = period_of(low_ms, months), period_of(high_ms, months)
    index, stop = first[0] * 12 + first[1] - 1, last[0] * 12 + last[1] - 1
    if (stop - index) // months >= MAX_PERIODS_PER_WRITE:
        return [first, last]
    return [(i // 12, i % 12 + 1) for i in range(index, stop + 1, months)]


def drop_before(connection: Any, table: str, before_ms: int) -> list[Partition]:
    """Drop every partition of ``table`` that ends at or before ``before_ms``; the ones
    dropped. Their rows go with them, without a trigger: the caller fixes what counts them."""
    _prepare(connection)
    dropped = [
        p for p in partitions(connection, table) if p.end_ms is not None and p.end_ms <= before_ms
    ]
    for partition in dropped:
        connection.execute(f"DROP TABLE {quote(partition.name)}")
    return dropped


def _prepare(connection: Any, lock_timeout: str = LOCK_TIMEOUT) -> None:
    connection.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
    connection.execute("SELECT pg_advisory_xact_lock(%s)", [_UPKEEP_LOCK])


def _overlaps(partition: Partition, start: int, end: int) -> bool:
    if partition.start_ms is None or partition.end_ms is None:
        return False
    return partition.start_ms < end and start < partition.end_ms


def periods_ahead(now_ms: int, months: int, ahead: int) -> list[tuple[int, int]]:
    year, month = period_of(now_ms, months)
    index = year * 12 + month - 1
    return [
        ((index + step * months) // 12, (index + step * months) % 12 + 1)
        for step in range(ahead + 1)
    ]
