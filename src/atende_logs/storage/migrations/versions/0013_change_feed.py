"""The change feed (issue 16): a change table per log table, and the history's horizon.

Each log table gets ``<table>_changes`` (``log_tables.create_change_table``): a row per
document, holding the position of its latest change. The writing transaction moves it,
under the lock of the customer's kind's data version (``data_versions``, 0002), so
positions commit in order (docs/sync.md). ``change_horizons`` records, per customer and
kind, the last tombstone retention pruned: a cursor from before it answers 410.

Every stored document is backfilled as a change at position 0, the start of the history,
so a consumer starting now receives every record there is.

Revision ID: 0013_change_feed
Revises: 0012_erasure_counts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from atende_logs.storage.migrations.log_tables import change_table, create_change_table

revision = "0013_change_feed"
down_revision = "0012_erasure_counts"
branch_labels = None
depends_on = None

# Ids compare byte by byte on both databases, as in the log tables (0001).
_ID_TYPE = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
# Each log table as migration 0001 scoped it.
_SCOPES = {
    "attendant_logs": ("customer_id",),
    "cdrs": ("customer_id",),
    "cards": ("customer_id", "dialer_id"),
}


def upgrade() -> None:
    op.create_table(
        "change_horizons",
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        # The greatest (seq, doc_id) and the latest change time of a pruned tombstone.
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("doc_id", _ID_TYPE, nullable=False),
        sa.Column("changed_at_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "kind", name="pk_change_horizons"),
    )
    now = (
        "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)"
        if op.get_bind().dialect.name == "postgresql"
        else "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    )
    for table, scope in _SCOPES.items():
        create_change_table(table, scope=scope)
        columns = ", ".join([*scope, "doc_id"])
        op.execute(
            f"INSERT INTO {change_table(table)} ({columns}, seq, changed_at_ms, deleted) "
            f"SELECT {columns}, 0, {now}, false FROM {table}"
        )


def downgrade() -> None:
    for table in _SCOPES:
        op.drop_table(change_table(table))
    op.drop_table("change_horizons")
