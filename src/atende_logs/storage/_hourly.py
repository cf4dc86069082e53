"""Exact totals of large listings from the hourly counts (migration 0005).

Counting a listing row by row costs time in proportion to its rows, too much for the first
page of a large one (docs/benchmarks-history.md, "The count at 9 million rows").
For a listing without filters, the rows of each whole hour of its range are already counted
as they are written (migration 0005's triggers; on SQLite, since migration 0009, the upsert
itself for inserts and replacements): its total is the sum of those counts plus a row count
of the partial hours at the two ends of the range, at most two hours of rows whatever the
range.
"""

from __future__ import annotations

from typing import Any

from atende_logs.models import SearchQuery
from atende_logs.query.times import MAX_MS

HOUR_MS = 3_600_000
"""The counts' granularity: whole hours line up with every time zone of whole hours."""


def hourly_total_sql(query: SearchQuery, dialer_id: int | None) -> tuple[str, list[Any]] | None:
    """One statement giving the listing's exact total from the counts, or None when the
    listing has filters (the counts know nothing of them) or spans no whole hour (its plain
    count is then as cheap)."""
    if query.conditions:
        return None
    low = query.start_ms if query.start_ms is not None else 0
    high = query.end_ms if query.end_ms is not None else MAX_MS
    first = -(-low // HOUR_MS) * HOUR_MS  # the first whole hour's start
    end = (high + 1) // HOUR_MS * HOUR_MS  # where the last whole hour ends (exclusive)
    if first >= end:
        return None
    scope, scope_params = "customer_id = ?", [query.customer_id]
    if dialer_id is not None:
        scope += " AND dialer_id = ?"
        scope_params.append(dialer_id)
    table = query.kind.table
    sql = (
        "SELECT (SELECT CAST(coalesce(sum(row_count), 0) AS BIGINT) FROM hourly_counts "
        "WHERE customer_id = ? AND kind = ? AND dialer_id = ? AND hour_ms >= ? AND hour_ms < ?)"
        f" + (SELECT count(*) FROM {table} WHERE {scope} AND time_ms >= ? AND time_ms < ?)"
        f" + (SELECT count(*) FROM {table} WHERE {scope} AND time_ms >= ? AND time_ms <= ?)"
    )
    params = [query.customer_id, table, dialer_id or 0, first, end]
    params += [*scope_params, low, first, *scope_params, end, high]
    return sql, params
