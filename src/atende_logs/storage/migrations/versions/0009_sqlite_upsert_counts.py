"""SQLite: the upsert keeps the hourly counts itself; its per-row triggers go.

Migration 0005 keeps the hourly counts with triggers. SQLite's are row triggers, and the mere
presence of one, even with an empty body, makes every row an upsert writes cost more, a good
part of an import into SQLite (docs/benchmarks-history.md, "Import into PostgreSQL", its
SQLite part).

The store's upsert (``storage.sqlite``) now reads the old time of the batch's ids that
already exist (it already looked them up, to count replacements), then adds each new row to
its hour and moves each replaced row whose hour changed, in the same transaction. SQLite has
one writer at a time, so nothing can come between that read and the write. The delete
triggers stay: deletes (purge, erasure) are rare and fire no trigger on the upsert's path.

PostgreSQL keeps its statement-level triggers: one statement per batch, a small share of its
write (the same section).

Revision ID: 0009_sqlite_upsert_counts
Revises: 0008_covering_time_indexes
"""

from __future__ import annotations

from alembic import op

revision = "0009_sqlite_upsert_counts"
down_revision = "0008_covering_time_indexes"
branch_labels = None
depends_on = None

_TABLES = {"attendant_logs": "0", "cdrs": "0", "cards": "NEW.dialer_id"}
HOUR_MS = 3_600_000


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _TABLES:
        op.execute(f"DROP TRIGGER hourly_counts_{table}_insert")
        op.execute(f"DROP TRIGGER hourly_counts_{table}_update")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, new_dialer in _TABLES.items():
        old_dialer = new_dialer.replace("NEW.", "OLD.")
        plus = _add(table, "NEW.customer_id", new_dialer, "NEW.time_ms", "1")
        minus = _add(table, "OLD.customer_id", old_dialer, "OLD.time_ms", "-1")
        op.execute(
            f"CREATE TRIGGER hourly_counts_{table}_insert AFTER INSERT ON {table} BEGIN {plus}; END"
        )
        op.execute(
            f"CREATE TRIGGER hourly_counts_{table}_update AFTER UPDATE OF time_ms ON {table} "
            f"WHEN {_hour('NEW.time_ms')} != {_hour('OLD.time_ms')} BEGIN {minus}; {plus}; END"
        )


def _hour(column: str) -> str:
    return f"({column} / {HOUR_MS}) * {HOUR_MS}"


def _add(table: str, customer: str, dialer: str, time: str, rows: str) -> str:
    # As migration 0005 wrote them.
    return (
        "INSERT INTO hourly_counts (customer_id, kind, dialer_id, hour_ms, row_count) "
        f"VALUES ({customer}, '{table}', {dialer}, {_hour(time)}, {rows}) "
        "ON CONFLICT (customer_id, kind, dialer_id, hour_ms) "
        "DO UPDATE SET row_count = hourly_counts.row_count + excluded.row_count"
    )
