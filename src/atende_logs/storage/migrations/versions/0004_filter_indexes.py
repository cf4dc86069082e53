"""Indexes that serve a filter and the listing's order at once.

A filter on an index of (customer, column) alone finds its rows but leaves them to be
sorted; SQLite, which keeps no statistics here, then prefers the time index and filters the
whole range instead (docs/benchmarks-history.md, "Figures from code comments"). With time
and id after the filter column, one index range gives the page in order. The CDRs' call
status gets one too: without it, Q2 of the benchmark read the whole month
(docs/benchmarks-history.md, "every design choice tried").

The indexes build inside the migration's transaction, which holds writes to the table
while they build: on a large live table, plan the upgrade for a quiet hour (its build time
at 10 million rows is unmeasured: docs/benchmarks-history.md, "Figures from code comments").

Revision ID: 0004_filter_indexes
Revises: 0003_lz4_documents
"""

from __future__ import annotations

from alembic import op

revision = "0004_filter_indexes"
down_revision = "0003_lz4_documents"
branch_labels = None
depends_on = None

_KEYSET = ["time_ms", "doc_id"]


def upgrade() -> None:
    op.create_index(
        "ix_attendant_logs_call_time", "attendant_logs", ["customer_id", "call_id", *_KEYSET]
    )
    op.drop_index("ix_attendant_logs_call", "attendant_logs")
    op.create_index("ix_cdrs_status", "cdrs", ["customer_id", "call_status", *_KEYSET])


def downgrade() -> None:
    op.drop_index("ix_cdrs_status", "cdrs")
    op.create_index("ix_attendant_logs_call", "attendant_logs", ["customer_id", "call_id"])
    op.drop_index("ix_attendant_logs_call_time", "attendant_logs")
