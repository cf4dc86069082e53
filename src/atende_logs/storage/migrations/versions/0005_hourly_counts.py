"""Row counts per customer (dialer), kind and hour, kept by triggers: exact totals in bounded time.

A listing's ``total`` is exact. Counting it row by row costs time in proportion to the rows:
at 9 million rows of one customer, many times the 250 ms a first page may take
(docs/benchmarks-history.md, "The count at 9 million rows"). With the rows counted per hour as
they are written, the total of a range is the sum of its whole hours (one row per hour: ~12k
for 16 months) plus a row count of the two partial hours at its ends.

Triggers keep the counts, in the writing transaction, for every path that changes rows
(upserts, replacements that move a document to another hour, and deletes), so no writer can
forget them. PostgreSQL uses statement-level triggers over transition tables: one grouped
upsert of the counts per statement, not one per row. SQLite only has row-level triggers.

The upgrade counts the existing rows first (a full read of the three tables, inside the
migration's transaction: on a large live table, plan it for a quiet hour).

Revision ID: 0005_hourly_counts
Revises: 0004_filter_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_hourly_counts"
down_revision = "0004_filter_indexes"
branch_labels = None
depends_on = None

HOUR_MS = 3_600_000
# table -> the expression of its dialer (0 for the kinds that have none)
_TABLES = {"attendant_logs": "0", "cdrs": "0", "cards": "dialer_id"}


def upgrade() -> None:
    op.create_table(
        "hourly_counts",
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("dialer_id", sa.Integer, nullable=False),
        sa.Column("hour_ms", sa.BigInteger, nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "customer_id", "kind", "dialer_id", "hour_ms", name="pk_hourly_counts"
        ),
    )
    for table, dialer in _TABLES.items():
        op.execute(
            f"INSERT INTO hourly_counts (customer_id, kind, dialer_id, hour_ms, row_count) "
            f"SELECT customer_id, '{table}', {dialer}, {_hour('time_ms')}, count(*) "
            f"FROM {table} GROUP BY {_group_by(dialer, _hour('time_ms'))}"
        )
        if op.get_bind().dialect.name == "postgresql":
            _postgres_triggers(table, dialer)
        else:
            _sqlite_triggers(table, dialer)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        for event in ("insert", "update", "delete"):
            op.execute(
                f"DROP TRIGGER hourly_counts_{event} ON {table}"
                if postgres
                else f"DROP TRIGGER hourly_counts_{table}_{event}"
            )
        if postgres:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP FUNCTION hourly_counts_{table}_{event}()")
    op.drop_table("hourly_counts")


def _group_by(dialer: str, hour: str) -> str:
    # A constant dialer (0) is left out: a number in GROUP BY would name a column.
    return f"customer_id, {hour}" if dialer == "0" else f"customer_id, {dialer}, {hour}"


def _hour(column: str) -> str:
    # Times are never negative (ingest refuses them), so integer division floors.
    return f"({column} / {HOUR_MS}) * {HOUR_MS}"


def _add(customer: str, dialer: str, hour: str, rows: str) -> str:
    return (
        "INSERT INTO hourly_counts (customer_id, kind, dialer_id, hour_ms, row_count) "
        f"VALUES ({customer}, KIND, {dialer}, {hour}, {rows}) "
        "ON CONFLICT (customer_id, kind, dialer_id, hour_ms) "
        "DO UPDATE SET row_count = hourly_counts.row_count + excluded.row_count"
    )


def _sqlite_triggers(table: str, dialer: str) -> None:
    new_dialer = "0" if dialer == "0" else "NEW.dialer_id"
    old_dialer = "0" if dialer == "0" else "OLD.dialer_id"
    plus = _add("NEW.customer_id", new_dialer, _hour("NEW.time_ms"), "1").replace(
        "KIND", f"'{table}'"
    )
    minus = _add("OLD.customer_id", old_dialer, _hour("OLD.time_ms"), "-1").replace(
        "KIND", f"'{table}'"
    )
    op.execute(
        f"CREATE TRIGGER hourly_counts_{table}_insert AFTER INSERT ON {table} BEGIN {plus}; END"
    )
    op.execute(
        f"CREATE TRIGGER hourly_counts_{table}_delete AFTER DELETE ON {table} BEGIN {minus}; END"
    )
    # A replacement that stays in its hour changes nothing: skip the two writes.
    op.execute(
        f"CREATE TRIGGER hourly_counts_{table}_update AFTER UPDATE OF time_ms ON {table} "
        f"WHEN {_hour('NEW.time_ms')} != {_hour('OLD.time_ms')} BEGIN {minus}; {plus}; END"
    )


def _postgres_triggers(table: str, dialer: str) -> None:
    def grouped(source: str, sign: str) -> str:
        # Ordered by key, so that concurrent writers lock the count rows in the same order.
        d = dialer if dialer == "0" else "dialer_id"
        return (
            f"SELECT customer_id, '{table}', {d}, {_hour('time_ms')}, {sign}count(*) FROM {source} "
            f"GROUP BY {_group_by(d, _hour('time_ms'))} ORDER BY 1, 3, 4"
        )

    upsert = (
        "INSERT INTO hourly_counts (customer_id, kind, dialer_id, hour_ms, row_count) {select} "
        "ON CONFLICT (customer_id, kind, dialer_id, hour_ms) "
        "DO UPDATE SET row_count = hourly_counts.row_count + excluded.row_count"
    )
    bodies = {
        "insert": upsert.format(select=grouped("new_rows", "")),
        "delete": upsert.format(select=grouped("old_rows", "-")),
    }
    d = dialer if dialer == "0" else "dialer_id"
    # Both sides at once: rows leaving an hour and rows entering one, netted per hour.
    bodies["update"] = upsert.format(
        select=(
            f"SELECT customer_id, '{table}', dialer, hour, sum(delta) FROM ("
            f"SELECT customer_id, {d} AS dialer, {_hour('time_ms')} AS hour, -1 AS delta "
            "FROM old_rows "
            f"UNION ALL SELECT customer_id, {d}, {_hour('time_ms')}, 1 FROM new_rows) AS moves "
            "GROUP BY customer_id, dialer, hour HAVING sum(delta) != 0 ORDER BY 1, 3, 4"
        )
    )
    transition = {
        "insert": "REFERENCING NEW TABLE AS new_rows",
        "delete": "REFERENCING OLD TABLE AS old_rows",
        "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    }
    for event, body in bodies.items():
        function = f"hourly_counts_{table}_{event}"
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body}; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER hourly_counts_{event} AFTER {event.upper()} ON {table} "
            f"{transition[event]} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
