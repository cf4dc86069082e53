"""A log table as the migrations have shaped the three of 0001, for the migration of a new kind.

The table of attendant logs, CDRs or cards is the work of several migrations: 0001 created
it, 0003 compressed its documents with lz4 (PostgreSQL), 0004 and 0008 shaped its indexes,
0005 and 0009 made its rows counted by hour. ``create_log_table`` makes all of that at once,
so the migration of a fourth kind is one call (the recipe is in ``atende_logs.kinds``), and
a test holds it to the tables those migrations made (tests/storage/test_log_tables.py).

A migration spells out its table's columns rather than reading them from its ``Kind``:
a migration is history, and the kind may grow columns that a later migration adds.
Call these inside a migration (or ``alembic.operations.Operations.context``): they use
``alembic.op``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from atende_logs.kinds import ColumnType
from atende_logs.storage import partitions

HOUR_MS = 3_600_000
_SQL_TYPES: dict[ColumnType, sa.types.TypeEngine[Any]] = {
    "text": sa.Text(),
    "integer": sa.BigInteger(),
    "real": sa.Float(),
}
_REFERENCES = {"customer_id": "customers.id", "dialer_id": "dialers.id"}
"""What each scope column names."""
# Ties in time are ordered by id as text, byte by byte, on both databases: "C" collation on
# PostgreSQL (its default follows the server's locale), SQLite's BINARY.
_ID_TYPE = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
_EVENTS = ("insert", "update", "delete")


def create_log_table(
    table: str,
    *,
    scope: Sequence[str],
    columns: Sequence[tuple[str, ColumnType]],
    indexed: Sequence[str] = (),
    splits: Sequence[str] = (),
) -> None:
    """Create a kind's table, its indexes and its hourly counting.

    ``scope`` is the kind's ``Scope.columns``, ``columns`` its stored filter columns in
    the kind's order (``Kind.stored_filters``: column and column type), and ``indexed``
    the filter columns that get an index leading to the listing's order, for filters too
    selective to leave to the time index (0004: a call id, a call status). ``splits``: the
    columns of ``Kind.splits``, counted per value and hour on PostgreSQL (0016).
    """
    postgres = op.get_bind().dialect.name == "postgresql"
    partitioned: dict[str, Any] = {"postgresql_partition_by": "RANGE (time_ms)"} if postgres else {}
    # PostgreSQL partitions the table by time (0015), and a partitioned table's keys must
    # hold its partition key: one row per record is kept by the writers (docs/partitions.md).
    op.create_table(
        table,
        *(
            sa.Column(name, sa.Integer, sa.ForeignKey(_REFERENCES[name]), nullable=False)
            for name in scope
        ),
        sa.Column("doc_id", _ID_TYPE, nullable=False),
        sa.Column("time_ms", sa.BigInteger, nullable=False),
        # The document as JSON text, passed through to responses without re-parsing.
        sa.Column("doc", sa.Text, nullable=False),
        *(sa.Column(name, _SQL_TYPES[column_type]) for name, column_type in columns),
        sa.PrimaryKeyConstraint(
            *scope, "doc_id", *(["time_ms"] if postgres else []), name=f"pk_{table}"
        ),
        **partitioned,
    )
    if postgres:
        op.execute(partitions.default_sql(table))  # the upkeep adds the months
        op.execute(partitions.no_document_statistics_sql(table))  # 0017; its default's too
    keyset = [*scope, "time_ms", "doc_id"]
    # Every listing is one customer's (dialer's) rows by time, then id. On PostgreSQL the
    # index carries every filter column, so a filtered count reads no table (0008).
    include: dict[str, Any] = {"postgresql_include": [c for c, _ in columns]} if postgres else {}
    op.create_index(f"ix_{table}_time", table, keyset, **include)
    for column in indexed:
        op.create_index(f"ix_{table}_{column}", table, [*scope, column, "time_ms", "doc_id"])
    if postgres:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN doc SET COMPRESSION lz4")  # 0003
        _postgres_counting(table, scope)
        if splits:
            create_split_counting(table, scope=scope, splits=splits)
    else:
        _sqlite_counting(table, scope)
    create_change_table(table, scope=scope)
    add_change_times(table, scope=scope)


def create_change_table(table: str, *, scope: Sequence[str]) -> None:
    """Create the change feed's table of a log table (0013): a row per document that ever
    existed, holding the position of its latest change (``seq``, shared by a transaction's
    changes, then ``doc_id``) and when it was made. ``deleted`` marks a tombstone, which
    retention prunes (docs/sync.md); the document's current state is read from the log
    table itself, so the feed never serves a state the table does not hold.
    """
    changes = change_table(table)
    op.create_table(
        changes,
        *(
            sa.Column(name, sa.Integer, sa.ForeignKey(_REFERENCES[name]), nullable=False)
            for name in scope
        ),
        sa.Column("doc_id", _ID_TYPE, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("changed_at_ms", sa.BigInteger, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint(*scope, "doc_id", name=f"pk_{changes}"),
        sqlite_with_rowid=False,
    )
    # The feed reads a scope's changes in (seq, doc_id) order from a position.
    op.create_index(f"ix_{changes}_seq", changes, [*scope, "seq", "doc_id"])
    # Retention finds the old tombstones without reading the live records' rows.
    op.create_index(
        f"ix_{changes}_tombstones",
        changes,
        ["customer_id", "changed_at_ms"],
        postgresql_where=sa.text("deleted"),
        sqlite_where=sa.text("deleted"),
    )


def add_change_times(table: str, *, scope: Sequence[str], backfill: bool = False) -> None:
    """Give a change table its records' times (0014): where a record's stored row lies on a
    table partitioned by time, and which change rows a retention mark covers. ``backfill``
    copies them from the stored rows (a tombstone's record has none: it stays null)."""
    changes = change_table(table)
    op.add_column(changes, sa.Column("time_ms", sa.BigInteger, nullable=True))
    # The latest time the record ever had: a consumer behind may hold any of its states,
    # and a retention mark covers a removed record only when every one of them is older.
    op.add_column(changes, sa.Column("max_time_ms", sa.BigInteger, nullable=True))
    if backfill:
        # One join rather than a lookup per row (SQLite has UPDATE … FROM since 3.33).
        key = " AND ".join(f"d.{c} = {changes}.{c}" for c in [*scope, "doc_id"])
        op.execute(
            f"UPDATE {changes} SET time_ms = d.time_ms, max_time_ms = d.time_ms "
            f"FROM {table} d WHERE {key}"
        )


def create_retention_marks() -> None:
    """The feed's retention marks (0014): per customer and kind, the records before a time
    that retention removed, at the sequence number of the removal (docs/sync.md)."""
    op.create_table(
        "retention_marks",
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("before_ms", sa.BigInteger, nullable=False),
        sa.Column("changed_at_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "kind", "seq", name="pk_retention_marks"),
    )


def change_table(table: str) -> str:
    """The name of a log table's change table."""
    return f"{table}_changes"


def drop_log_table(table: str) -> None:
    """Undo ``create_log_table``."""
    op.drop_table(change_table(table))
    op.execute(f"DELETE FROM change_horizons WHERE kind = '{table}'")
    op.execute(f"DELETE FROM retention_marks WHERE kind = '{table}'")
    op.drop_table(table)  # its indexes and triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        for event in _EVENTS:
            op.execute(f"DROP FUNCTION hourly_counts_{table}_{event}()")
            op.execute(f"DROP FUNCTION IF EXISTS split_counts_{table}_{event}()")
        op.execute(f"DELETE FROM split_counts WHERE kind = '{table}'")
    op.execute(f"DELETE FROM hourly_counts WHERE kind = '{table}'")
    op.execute(f"DELETE FROM data_versions WHERE kind = '{table}'")


def _dialer(scope: Sequence[str], row: str = "") -> str:
    """The hourly counts' dialer of a row: its dialer, or 0 for a kind of no dialer."""
    return f"{row}dialer_id" if "dialer_id" in scope else "0"


def _hour(column: str) -> str:
    # Times are never negative (ingest refuses them), so integer division floors.
    return f"({column} / {HOUR_MS}) * {HOUR_MS}"


_ADD = (
    "INSERT INTO hourly_counts (customer_id, kind, dialer_id, hour_ms, row_count) {rows} "
    "ON CONFLICT (customer_id, kind, dialer_id, hour_ms) "
    "DO UPDATE SET row_count = hourly_counts.row_count + excluded.row_count"
)


def _sqlite_counting(table: str, scope: Sequence[str]) -> None:
    # SQLite's upsert counts the rows it inserts and moves (0009): only deletes (purge,
    # erasure) keep a row trigger, which costs nothing on the upsert's path.
    minus = _ADD.format(
        rows=f"VALUES (OLD.customer_id, '{table}', {_dialer(scope, 'OLD.')}, "
        f"{_hour('OLD.time_ms')}, -1)"
    )
    op.execute(
        f"CREATE TRIGGER hourly_counts_{table}_delete AFTER DELETE ON {table} BEGIN {minus}; END"
    )


def _postgres_counting(table: str, scope: Sequence[str]) -> None:
    # Statement-level triggers over transition tables: one grouped upsert of the counts per
    # statement (0005). Ordered by key, so concurrent writers lock count rows in one order.
    dialer, hour = _dialer(scope), _hour("time_ms")
    group = ", ".join(["customer_id", *(["dialer_id"] if dialer != "0" else []), hour])

    def grouped(rows: str, sign: str) -> str:
        return (
            f"SELECT customer_id, '{table}', {dialer}, {hour}, {sign}count(*) FROM {rows} "
            f"GROUP BY {group} ORDER BY 1, 3, 4"
        )

    # An update nets the rows leaving an hour against those entering one.
    moves = (
        f"SELECT customer_id, '{table}', dialer, hour, sum(delta) FROM ("
        f"SELECT customer_id, {dialer} AS dialer, {hour} AS hour, -1 AS delta FROM old_rows "
        f"UNION ALL SELECT customer_id, {dialer}, {hour}, 1 FROM new_rows) AS moves "
        "GROUP BY customer_id, dialer, hour HAVING sum(delta) != 0 ORDER BY 1, 3, 4"
    )
    bodies = {
        "insert": (grouped("new_rows", ""), "REFERENCING NEW TABLE AS new_rows"),
        "update": (moves, "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        "delete": (grouped("old_rows", "-"), "REFERENCING OLD TABLE AS old_rows"),
    }
    for event, (rows, transition) in bodies.items():
        function = f"hourly_counts_{table}_{event}"
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {_ADD.format(rows=rows)}; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER hourly_counts_{event} AFTER {event.upper()} ON {table} "
            f"{transition} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )


def create_split_counts() -> None:
    """The records per hour and value of a split column (0016, PostgreSQL): a stats request
    split by that column (issue 20) sums these rather than reading the range's rows. A
    missing value is counted under '' (what the stats answer calls it too)."""
    op.create_table(
        "split_counts",
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("dialer_id", sa.Integer, nullable=False),
        sa.Column("split", sa.Text, nullable=False),
        sa.Column("hour_ms", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "customer_id", "kind", "dialer_id", "split", "hour_ms", "value", name="pk_split_counts"
        ),
    )


def create_split_counting(
    table: str, *, scope: Sequence[str], splits: Sequence[str], backfill: bool = False
) -> None:
    """Keep ``table``'s counts per hour and value of each of ``splits`` (PostgreSQL, 0016):
    statement-level triggers as the hourly counts' (0005). ``backfill`` counts the rows
    already there, after the triggers exist: creating them locks out writers until the
    migration commits, so no row is counted twice or missed."""
    _add = (
        "INSERT INTO split_counts (customer_id, kind, dialer_id, split, hour_ms, value, "
        "row_count) {rows} ON CONFLICT (customer_id, kind, dialer_id, split, hour_ms, value) "
        "DO UPDATE SET row_count = split_counts.row_count + excluded.row_count"
    )
    dialer, hour = _dialer(scope), _hour("time_ms")

    def counted(*sources: tuple[str, str]) -> str:
        # Rows entering (+1) and leaving (-1) a (split, hour, value), netted: a replacement
        # that keeps its hour and value writes nothing. Ordered by key, as the hourly counts.
        parts = [
            f"SELECT customer_id, {dialer} AS dialer, '{split}' AS split, {hour} AS hour, "
            f"coalesce(CAST({split} AS TEXT), '') AS value, {delta} AS delta FROM {rows}"
            for rows, delta in sources
            for split in splits
        ]
        return (
            f"SELECT customer_id, '{table}', dialer, split, hour, value, sum(delta) FROM ("
            + " UNION ALL ".join(parts)
            + ") AS counted GROUP BY customer_id, dialer, split, hour, value "
            "HAVING sum(delta) != 0 ORDER BY 1, 3, 4, 5, 6"
        )

    bodies = {
        "insert": (counted(("new_rows", "1")), "REFERENCING NEW TABLE AS new_rows"),
        "update": (
            counted(("old_rows", "-1"), ("new_rows", "1")),
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        ),
        "delete": (counted(("old_rows", "-1")), "REFERENCING OLD TABLE AS old_rows"),
    }
    for event, (rows, transition) in bodies.items():
        function = f"split_counts_{table}_{event}"
        op.execute(
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {_add.format(rows=rows)}; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER split_counts_{event} AFTER {event.upper()} ON {table} "
            f"{transition} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    if backfill:
        op.execute(_add.format(rows=counted((table, "1"))))


def drop_split_counting(table: str) -> None:
    """Undo ``create_split_counting``."""
    for event in _EVENTS:
        op.execute(f"DROP TRIGGER split_counts_{event} ON {table}")
        op.execute(f"DROP FUNCTION split_counts_{table}_{event}()")
