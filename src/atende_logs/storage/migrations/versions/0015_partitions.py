"""PostgreSQL's log tables become partitioned by time (issue 18; docs/partitions.md).

Each of the three log tables is rebuilt as a table partitioned by range of ``time_ms``:
one partition per calendar month (UTC) that holds rows, the current month and the three
after it, and a default partition for any other time. Its primary key gains ``time_ms``,
as PostgreSQL requires of a unique key on a partitioned table; a record stays one row per
(scope, doc_id) because writers find its stored row through its change row, which is one
per record (0014), and move it when its time changes (``storage.postgres``).

The rows are copied into the new table and the old one dropped, in this migration's
transaction: the tables are locked (ACCESS EXCLUSIVE) for the whole copy, so reads and
writes wait for it (docs/partitions.md has how long per 10M rows). Indexes, foreign keys
and triggers are read from the old table and made again on the new one, after the copy.
SQLite is left as it is: it has no partitions.

Revision ID: 0015_partitions
Revises: 0014_retention_marks
"""

from __future__ import annotations

import time
from typing import Any

from alembic import op

from atende_logs.storage import partitions

revision = "0015_partitions"
down_revision = "0014_retention_marks"
branch_labels = None
depends_on = None

# Each log table as migration 0001 scoped it.
_SCOPES = {
    "attendant_logs": ("customer_id",),
    "cdrs": ("customer_id",),
    "cards": ("customer_id", "dialer_id"),
}
_MONTHS, _AHEAD = 1, 3  # the settings' defaults (ATENDE_PARTITION_MONTHS, _AHEAD)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, scope in _SCOPES.items():
            _rebuild(table, scope, partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, scope in _SCOPES.items():
            _rebuild(table, scope, partitioned=False)


def _rebuild(table: str, scope: tuple[str, ...], *, partitioned: bool) -> None:
    """Copy ``table`` into a new table, partitioned or plain, in its place."""
    connection = op.get_bind().connection.dbapi_connection
    execute = connection.execute  # type: ignore[union-attr]

    def definitions(sql: str) -> list[str]:
        return [row[0] for row in execute(sql, [table]).fetchall()]

    indexes = definitions(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s::regclass "
        "AND NOT indisprimary"
    )
    foreign = definitions(
        "SELECT format('CONSTRAINT %%I %%s', conname, pg_get_constraintdef(oid)) "
        "FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'"
    )
    triggers = definitions(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass "
        "AND NOT tgisinternal"
    )
    new = f"{table}_rebuilt"
    key = ", ".join([*scope, "doc_id", *(["time_ms"] if partitioned else [])])
    execute(
        f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING COMPRESSION "
        f"INCLUDING STORAGE, CONSTRAINT pk_{new} PRIMARY KEY ({key}))"
        + (" PARTITION BY RANGE (time_ms)" if partitioned else "")
    )
    if partitioned:
        partitions.create_default(connection, new)
        for year, month in _months_held(execute, table):
            start = partitions.month_start(year, month)
            execute(
                f"CREATE TABLE {partitions.partition_name(new, year, month)} PARTITION OF {new} "
                f"FOR VALUES FROM ({start}) TO ({partitions.month_start(year, month + 1)})"
            )
    # Indexes, keys and triggers after the copy: built once, checked once, and no count
    # of the copied rows added again.
    execute(f"INSERT INTO {new} SELECT * FROM {table}")
    execute(f"DROP TABLE {table}")
    execute(f"ALTER TABLE {new} RENAME TO {table}")
    execute(f"ALTER TABLE {table} RENAME CONSTRAINT pk_{new} TO pk_{table}")
    if partitioned:
        for partition in partitions.partitions(connection, table):
            execute(f"ALTER TABLE {partition.name} RENAME TO {partition.name.replace(new, table)}")
        now_ms = int(time.time() * 1000)
        partitions.ensure(connection, table, months=_MONTHS, ahead=_AHEAD, now_ms=now_ms)
    for definition in indexes:
        execute(definition)
    for definition in foreign:
        execute(f"ALTER TABLE {table} ADD {definition}")
    for definition in triggers:
        execute(definition)


def _months_held(execute: Any, table: str) -> list[tuple[int, int]]:
    """The months (UTC) that hold rows of ``table`` and lie within ``STRAY_YEARS`` of now:
    the hourly counts know them without a scan of the table."""
    rows = execute(
        "SELECT DISTINCT extract(year FROM t)::int, extract(month FROM t)::int FROM ("
        "SELECT to_timestamp(hour_ms / 1000.0) AT TIME ZONE 'UTC' AS t FROM hourly_counts "
        "WHERE kind = %s AND row_count > 0) AS hours ORDER BY 1, 2",
        [table],
    ).fetchall()
    span = partitions.STRAY_YEARS * 365 * 86_400_000
    now_ms = time.time() * 1000
    return [
        (year, month)
        for year, month in rows
        if abs(partitions.month_start(year, month) - now_ms) < span
    ]
