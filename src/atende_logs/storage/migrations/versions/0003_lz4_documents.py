"""PostgreSQL compresses stored documents with lz4 instead of pglz.

Documents (2-3 KB) pass PostgreSQL's 2 KB TOAST threshold, so every row is compressed on
write and decompressed on read. lz4 writes much faster than pglz at about the same size
(docs/benchmarks-history.md, "every design choice tried"). Rows written before this keep
pglz until rewritten.
SQLite does not compress: nothing to do there.

Revision ID: 0003_lz4_documents
Revises: 0002_data_versions
"""

from __future__ import annotations

from alembic import op

revision = "0003_lz4_documents"
down_revision = "0002_data_versions"
branch_labels = None
depends_on = None

_TABLES = ("attendant_logs", "cdrs", "cards")


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN doc SET COMPRESSION {method}")


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
