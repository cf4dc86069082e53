"""The one GROUP BY of a stats request (issue 20), from the hourly counts where it can be.

Without filters, the counts hold what a stats request asks, whole hour by whole hour: those
of migration 0005 without a split (as ``storage._hourly`` uses them for a listing's total),
those of 0016 per value of the split column (PostgreSQL); only the partial hours at the two
ends of the range are counted from the table. A filter, or a split on SQLite, reads the
table: on PostgreSQL its time index carries every filter column (0008), so that is an
index-only scan of the range.
"""

from __future__ import annotations

from typing import Any

from atende_logs.models import StatsQuery, StatsRow
from atende_logs.storage._common import SqlStore, quote
from atende_logs.storage._hourly import HOUR_MS


class StatsStore(SqlStore):
    """The ``stats`` operation of the ``Store`` protocol."""

    def stats(self, query: StatsQuery) -> list[StatsRow]:
        dialer_id = self._dialer_id(query.listing)
        sql, params = stats_sql(query, dialer_id, self.dialect.split_counts)
        with self._replica_statement() as connection:  # only shows data: a replica may
            rows = connection.execute(self._sql(sql), params).fetchall()
        return [(int(group), value, int(count)) for group, value, count in rows]


def stats_sql(
    query: StatsQuery, dialer_id: int | None, split_counts: bool = False
) -> tuple[str, list[Any]]:
    """One statement giving rows of (``time_ms // quantum_ms``, split value, count), several
    rows per group possible (their counts add up). ``split_counts``: whether the database
    keeps the counts per split value (0016)."""
    listing = query.listing
    low, high = listing.start_ms, listing.end_ms
    assert low is not None and high is not None  # parse_stats asks for both
    scope, scope_params = _scope(listing.customer_id, dialer_id)
    table = quote(listing.kind.table)
    quantum = query.quantum_ms
    counted = query.split is None or split_counts
    if counted and not listing.conditions and quantum == HOUR_MS:
        first = -(-low // HOUR_MS) * HOUR_MS  # the first whole hour's start
        end = (high + 1) // HOUR_MS * HOUR_MS  # where the last whole hour ends (exclusive)
        if first < end:
            if query.split is None:
                value, counts = "NULL", "hourly_counts"
                whole, group, edge_group = "NULL", "hour_ms", "1"
                of_split: list[Any] = []
            else:  # '' is a missing value's key there, as in the answer
                value = f"CAST({quote(query.split.column)} AS TEXT)"
                counts, whole, group, edge_group = "split_counts", "value", "hour_ms, value", "1, 2"
                of_split = [query.split.column]
            edge = f"SELECT time_ms / ?, {value}, count(*) FROM {table} WHERE {scope} AND time_ms "
            sql = (
                f"SELECT hour_ms / ?, {whole}, sum(row_count) FROM {counts} WHERE "
                "customer_id = ? AND kind = ? AND dialer_id = ? "
                f"{'AND split = ? ' if of_split else ''}AND hour_ms >= ? AND hour_ms < ? "
                f"GROUP BY {group} HAVING sum(row_count) <> 0"
                f" UNION ALL {edge}>= ? AND time_ms < ? GROUP BY {edge_group}"
                f" UNION ALL {edge}>= ? AND time_ms <= ? GROUP BY {edge_group}"
            )
            params = [quantum, listing.customer_id, listing.kind.table, dialer_id or 0]
            params += [*of_split, first, end]
            params += [quantum, *scope_params, low, first, quantum, *scope_params, end, high]
            return sql, params
    where, params = [scope, "time_ms >= ?", "time_ms <= ?"], [*scope_params, low, high]
    for condition in listing.conditions:
        where.append(f"{quote(condition.spec.column)} {condition.spec.op} ?")
        params.append(condition.value)
    value, group = ("NULL", "1")
    if query.split is not None:
        value, group = quote(query.split.column), "1, 2"
    sql = (
        f"SELECT time_ms / ?, {value}, count(*) FROM {table} "
        f"WHERE {' AND '.join(where)} GROUP BY {group}"
    )
    return sql, [quantum, *params]


def _scope(customer_id: int, dialer_id: int | None) -> tuple[str, list[Any]]:
    if dialer_id is None:
        return "customer_id = ?", [customer_id]
    return "customer_id = ? AND dialer_id = ?", [customer_id, dialer_id]
