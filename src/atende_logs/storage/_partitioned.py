"""A store whose log tables are partitioned by time (PostgreSQL; ``storage.partitions``):
their upkeep, and retention by whole partition (docs/partitions.md)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from atende_logs.kinds import KINDS, Kind
from atende_logs.storage import partitions
from atende_logs.storage._common import now_ms
from atende_logs.storage._personal_data import PersonalDataStore
from atende_logs.storage.partitions import Partition


class PartitionedStore(PersonalDataStore):
    """``PersonalDataStore`` plus partition upkeep and dropping."""

    partition_months = 1
    """Calendar months per partition (ATENDE_PARTITION_MONTHS)."""
    partitions_ahead = 3
    """Partitions kept ready past the current one (ATENDE_PARTITIONS_AHEAD)."""

    def maintain_partitions(self, now: int | None = None) -> list[str]:
        made: list[str] = []
        for kind in KINDS.values():
            with self._writing() as connection:
                made += [
                    p.name
                    for p in partitions.ensure(
                        connection,
                        kind.table,
                        months=self.partition_months,
                        ahead=self.partitions_ahead,
                        now_ms=now_ms() if now is None else now,
                    )
                ]
        return made

    def list_partitions(self, kind: Kind) -> list[Partition]:
        with self._statement() as connection:
            return partitions.partitions(connection, kind.table)

    def drop_partitions_before(self, kind: Kind, before_ms: int) -> dict[int, int]:
        with self._writing() as connection:
            dropped = partitions.drop_before(connection, kind.table, before_ms)
            if not dropped:
                return {}
            # Their rows left without the hourly counts' triggers: their counts go here, and
            # tell how many records each customer lost.
            lost: dict[int, int] = defaultdict(int)
            for partition in dropped:
                for customer_id, rows in connection.execute(
                    "DELETE FROM hourly_counts WHERE kind = %s AND hour_ms >= %s "
                    "AND hour_ms < %s RETURNING customer_id, row_count",
                    [kind.table, partition.start_ms, partition.end_ms],
                ).fetchall():
                    lost[int(customer_id)] += int(rows)
            cut = max(p.end_ms or 0 for p in dropped)
            for customer_id in sorted(lost):
                self._expire(connection, kind, customer_id, cut, None)
            return dict(lost)

    def _no_timeout(self, connection: Any) -> None:
        connection.execute("SET LOCAL statement_timeout = 0")
