"""PostgreSQL: the time indexes carry every filter column, so a filtered count reads no table.

A listing's ``total`` under filters no index serves whole (Q5 of the benchmark: call status,
period and how the call ended, over a month) was counted by fetching every candidate row
from the table to test the other filters. At 10 million CDRs that month is 312,000 random
heap reads, past the 10 s statement timeout on the first request (503), which is the one
that fills the count cache. With the filter columns INCLUDEd in the time index, the same
count is an index-only scan. The index about doubles in size, but it is the same index the
pages already read, so no second one is maintained on every write (the figures:
docs/benchmarks-history.md, "PostgreSQL, 10,000,000 rows per kind").

SQLite keeps its indexes: its counts at its sizes are already in bounded time
(docs/benchmarks.md, "Today's figures against the targets"), and a wider key would only
make its file larger.

Each index builds inside the migration's transaction, which holds writes to its table
meanwhile, for a time in proportion to its rows (the same history section gives it). Plan
the upgrade of a large live database for a quiet hour. Ingest checks that a record's id and
filter values fit an index entry (``ingest.documents.MAX_INDEXED_BYTES``), so no record can
be refused by the index itself.

Revision ID: 0008_covering_time_indexes
Revises: 0007_key_last_use
"""

from __future__ import annotations

from alembic import op

revision = "0008_covering_time_indexes"
down_revision = "0007_key_last_use"
branch_labels = None
depends_on = None

# The filter columns of each table as they are at this revision (not read from the code,
# which may grow columns later migrations add).
_TABLES: dict[str, tuple[list[str], list[str]]] = {
    "attendant_logs": (
        ["customer_id"],
        [
            "attendant_email",
            "attendant_name",
            "description",
            "duration",
            "ani",
            "source",
            "direction",
            "call_id",
            "voip_version",
            "kind",
            "screen",
            "extension_number",
        ],
    ),
    "cdrs": (
        ["customer_id"],
        [
            "alt_dnis",
            "ori_billing_time",
            "total_charge",
            "selected_options",
            "zendesk_ticket_id",
            "configuration_kind",
            "period",
            "call_terminated",
            "call_status",
        ],
    ),
    "cards": (
        ["customer_id", "dialer_id"],
        ["number", "status", "card_info_1", "card_info_2", "card_info_3"],
    ),
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    for table, (scope, filters) in _TABLES.items():
        op.drop_index(f"ix_{table}_time", table)
        op.create_index(
            f"ix_{table}_time", table, [*scope, "time_ms", "doc_id"], postgresql_include=filters
        )


def downgrade() -> None:
    if not _postgresql():
        return
    for table, (scope, _) in _TABLES.items():
        op.drop_index(f"ix_{table}_time", table)
        op.create_index(f"ix_{table}_time", table, [*scope, "time_ms", "doc_id"])
