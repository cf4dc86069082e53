"""PostgreSQL keeps no statistics of the stored documents (``doc``), in every partition.

An import of many new documents ends with ANALYZE, so the planner knows a new customer's
rows (``storage.postgres.refresh_statistics``). On a table partitioned by time (0015) that
ANALYZE samples every partition, and it read and decompressed each sample's document, for
statistics no query uses: no filter reads ``doc``. At 10 million attendant logs it passed
the 10 s statement timeout, and the import reported an error after storing everything.
Without them: 9.1 → 5.5 s at 3 million (docs/partitions.md). Partitions made later get the
same setting when made (``storage.partitions``). SQLite keeps no per-column statistics.

Revision ID: 0017_doc_statistics
Revises: 0016_split_counts
"""

from __future__ import annotations

from alembic import op

from atende_logs.storage.partitions import no_document_statistics_sql

revision = "0017_doc_statistics"
down_revision = "0016_split_counts"
branch_labels = None
depends_on = None

_TABLES = ("attendant_logs", "cdrs", "cards")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:  # on a partitioned table, each of its partitions too
        op.execute(no_document_statistics_sql(table))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN doc SET STATISTICS -1")
