"""Counts per hour and value of the stats' split columns, kept by triggers (PostgreSQL).

A stats request split by a field (issue 20: CDRs by ``call_status``, attendant logs by
``screen`` or ``kind``, cards by ``status``) grouped the range's rows: at 10 million rows a
month of the big customer is half a million of them, far past the 50 ms the console's chart
may take. The hourly counts (0005) know nothing of any field; these count each split
column's values per hour the same way (statement-level triggers over transition tables,
``log_tables.create_split_counting``), so such a request sums whole hours from here and
reads only its two partial hours from the table (``storage._stats``).

PostgreSQL only: on SQLite a split request reads the rows, which its sizes allow, and its
writes keep no trigger on the upsert's path (0009). The upgrade counts the existing rows
(a full read of the three tables in the migration's transaction, writers locked out
meanwhile: plan it for a quiet hour, as 0005).

Revision ID: 0016_split_counts
Revises: 0015_partitions
"""

from __future__ import annotations

from alembic import op

from atende_logs.storage.migrations.log_tables import (
    create_split_counting,
    create_split_counts,
    drop_split_counting,
)

revision = "0016_split_counts"
down_revision = "0015_partitions"
branch_labels = None
depends_on = None

# Each log table as migration 0001 scoped it, with the columns its kind splits by.
_TABLES = {
    "attendant_logs": (("customer_id",), ("screen", "kind")),
    "cdrs": (("customer_id",), ("call_status",)),
    "cards": (("customer_id", "dialer_id"), ("status",)),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    create_split_counts()
    for table, (scope, splits) in _TABLES.items():
        create_split_counting(table, scope=scope, splits=splits, backfill=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        drop_split_counting(table)
    op.drop_table("split_counts")
