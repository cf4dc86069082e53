"""Retention reaches the change feed as marks, not one tombstone per removed record.

``retention_marks`` holds, per customer and kind, "every record whose time is before
``before_ms`` is gone", at the sequence number of the transaction that made it true
(docs/sync.md, "Retention"). A change row now carries its record's time (``time_ms``), so
the rows of records a mark covers can be found by time, and, on a partitioned PostgreSQL
table (0015), the partition that holds a record's stored row; and the latest time it ever
had, since a consumer behind may still hold a state of it from before it moved back in time
(a mark covers a removed record only when that latest time is before the mark's).

Tombstones of records deleted before this migration have no stored row left to read the
time from: their ``time_ms`` stays null, and the tombstones' own pruning forgets them.

Revision ID: 0014_retention_marks
Revises: 0013_change_feed
"""

from __future__ import annotations

from alembic import op

from atende_logs.storage.migrations.log_tables import add_change_times, create_retention_marks

revision = "0014_retention_marks"
down_revision = "0013_change_feed"
branch_labels = None
depends_on = None

# Each log table as migration 0001 scoped it.
_SCOPES = {
    "attendant_logs": ("customer_id",),
    "cdrs": ("customer_id",),
    "cards": ("customer_id", "dialer_id"),
}


def upgrade() -> None:
    create_retention_marks()
    for table, scope in _SCOPES.items():
        add_change_times(table, scope=scope, backfill=True)


def downgrade() -> None:
    for table in _SCOPES:
        op.drop_column(f"{table}_changes", "max_time_ms")
        op.drop_column(f"{table}_changes", "time_ms")
    op.drop_table("retention_marks")
