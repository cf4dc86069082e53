"""Time partitions of the log tables on PostgreSQL (issue 18; docs/partitions.md).

Each log table is partitioned by range of ``time_ms``: one partition per period of
``months`` calendar months (UTC), named ``<table>_pYYYYMM`` after its first month, and a
default partition, ``<table>_default``, that takes any row no period holds, so a write never
fails for want of a partition, whatever the record's date.

``ensure`` is the upkeep: it creates the current period's partition and ``ahead`` more, and
gives each period of the last and next ``STRAY_YEARS`` that has rows in the default
partition a partition of its own, moving those rows into it. ``drop_before`` drops the
partitions that end at or before a time. Both run under an advisory lock (one upkeep at a
time) and a lock timeout: attaching or dropping a partition needs a short exclusive lock of
the parent, which waits for running writes; a busy table makes the upkeep give up and
retry at its next run rather than queue every request behind it.

SQLite has no partitions: these are never called there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from atende_logs.storage._common import quote

STRAY_YEARS = 20
"""How far from now a row in the default partition gets a period of its own: a record dated
in 1970 or 3000 (a producer's bug) stays in the default partition instead of making one."""
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


def create_default(connection: Any, table: str) -> None:
    connection.execute(default_sql(table))


def ensure(connection: Any, table: str, *, months: int, ahead: int, now_ms: int) -> list[Partition]:
    """Create the partitions ``table`` lacks (see the module); the ones created.

    ``connection`` is in a transaction of its own: the caller commits it. Partitions of
    another length already there (``months`` changed) are left as they are: a new period
    is made only where it overlaps none."""
    _prepare(connection)
    existing = partitions(connection, table)
    wanted = _periods_ahead(now_ms, months, ahead) | _stray_periods(
        connection, table, months, now_ms
    )
    made = []
    for year, month in sorted(wanted):
        start, end = month_start(year, month), month_start(year, month + months)
        if any(_overlaps(p, start, end) for p in existing):
            continue
        made.append(_create(connection, table, partition_name(table, year, month), start, end))
    return made


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


def _prepare(connection: Any) -> None:
    connection.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    connection.execute("SELECT pg_advisory_xact_lock(%s)", [_UPKEEP_LOCK])


def _overlaps(partition: Partition, start: int, end: int) -> bool:
    if partition.start_ms is None or partition.end_ms is None:
        return False
    return partition.start_ms < end and start < partition.end_ms


def _periods_ahead(now_ms: int, months: int, ahead: int) -> set[tuple[int, int]]:
    year, month = period_of(now_ms, months)
    index = year * 12 + month - 1
    return {
        ((index + step * months) // 12, (index + step * months) % 12 + 1)
        for step in range(ahead + 1)
    }


def _stray_periods(connection: Any, table: str, months: int, now_ms: int) -> set[tuple[int, int]]:
    """The periods within ``STRAY_YEARS`` of now that hold rows of the default partition."""
    span_ms = STRAY_YEARS * 365 * 86_400_000
    rows = connection.execute(
        "SELECT DISTINCT extract(year FROM t)::int, extract(month FROM t)::int FROM ("
        "SELECT to_timestamp(time_ms / 1000.0) AT TIME ZONE 'UTC' AS t "
        f"FROM {quote(default_name(table))} WHERE time_ms >= %s AND time_ms < %s) AS strays",
        [now_ms - span_ms, now_ms + span_ms],
    ).fetchall()
    return {period_of(month_start(year, month), months) for year, month in rows}


def _create(connection: Any, table: str, name: str, start: int, end: int) -> Partition:
    """A partition for [start, end), taking the default partition's rows of that range.

    Those rows move through a table of their own, checked to hold the range, so that
    attaching it scans nothing but the default partition (to see none is left there).
    Rows moved between partitions directly are no change to the parent: its statement
    triggers (the hourly counts) do not fire, and the counts stay right."""
    default, parent = quote(default_name(table)), quote(table)
    strays = connection.execute(
        f"SELECT count(*) FROM {default} WHERE time_ms >= %s AND time_ms < %s", [start, end]
    ).fetchone()[0]
    if not strays:
        connection.execute(
            f"CREATE TABLE {quote(name)} PARTITION OF {parent} FOR VALUES FROM ({start}) TO ({end})"
        )
        return Partition(name, start, end)
    check = quote(f"{name}_range")
    connection.execute(
        f"CREATE TABLE {quote(name)} (LIKE {parent} INCLUDING DEFAULTS INCLUDING COMPRESSION "
        f"INCLUDING STORAGE, CONSTRAINT {check} CHECK (time_ms >= {start} AND time_ms < {end}))"
    )
    connection.execute(
        f"WITH moved AS (DELETE FROM {default} WHERE time_ms >= %s AND time_ms < %s "
        f"RETURNING *) INSERT INTO {quote(name)} SELECT * FROM moved",
        [start, end],
    )
    connection.execute(
        f"ALTER TABLE {parent} ATTACH PARTITION {quote(name)} FOR VALUES FROM ({start}) TO ({end})"
    )
    connection.execute(f"ALTER TABLE {quote(name)} DROP CONSTRAINT {check}")
    return Partition(name, start, end)
