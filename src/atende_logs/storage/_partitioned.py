"""A store whose log tables are partitioned by time (PostgreSQL; ``storage.partitions``):
their upkeep, and retention by whole partition (docs/partitions.md)."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from contextlib import AbstractContextManager
from typing import Any

from atende_logs.errors import StorageError
from atende_logs.kinds import KINDS, Kind
from atende_logs.models import EncodedRows
from atende_logs.storage import partitions
from atende_logs.storage._common import now_ms
from atende_logs.storage._personal_data import PersonalDataStore
from atende_logs.storage.partitions import Partition

WRITE_LOCK_TIMEOUT = "1s"
"""How long a write waits to make the partition it needs before it lets its rows go to the
default partition: a busy table must not hold an import."""

log = logging.getLogger("atende_logs.partitions")


class PartitionedStore(PersonalDataStore):
    """``PersonalDataStore`` plus partition upkeep and dropping."""

    partition_months = 1
    """Calendar months per partition (ATENDE_PARTITION_MONTHS)."""
    partitions_ahead = 3
    """Partitions kept ready past the current one (ATENDE_PARTITIONS_AHEAD)."""

    def __init__(self) -> None:
        super().__init__()
        self._periods_seen: dict[str, set[tuple[int, int]]] = defaultdict(set)
        """Per table, the periods this process made sure of (made, found, or given up on)."""
        self._periods_lock = threading.Lock()

    def write_rows(
        self,
        customer_id: int,
        kind: Kind,
        rows: EncodedRows,
        dialer_id: int | None = None,
        *,
        newer_only: bool = False,
    ) -> tuple[int, int]:
        if rows.span is not None:
            self._partitions_for(kind, *rows.span)
        return super().write_rows(customer_id, kind, rows, dialer_id, newer_only=newer_only)

    def _partitions_for(self, kind: Kind, low_ms: int, high_ms: int) -> None:
        """Make the partitions of the periods from ``low_ms`` to ``high_ms`` before rows of
        them are written (an import of an old file), in a short transaction of its own, once
        per period and process. Failing (a busy table), the rows go to the default partition."""
        seen = self._periods_seen[kind.table]
        wanted = partitions.periods_between(low_ms, high_ms, self.partition_months)
        if all(period in seen for period in wanted):
            return
        with self._periods_lock:
            missing = [period for period in wanted if period not in seen]
            if not missing:
                return
            try:
                with self._apart() as connection:
                    made = partitions.create_for(
                        connection,
                        kind.table,
                        missing,
                        self.partition_months,
                        lock_timeout=WRITE_LOCK_TIMEOUT,
                    )
            except StorageError:
                log.warning(
                    "no partition made for %s %s: rows go to the default one",
                    kind.table,
                    missing,
                    exc_info=True,
                )
            else:
                if made:
                    log.info("partitions created: %s", ", ".join(p.name for p in made))
            seen.update(missing)

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
            # Their rows left without the counts' triggers: their counts go here, the hourly
            # ones telling how many records each customer lost.
            lost: dict[int, int] = defaultdict(int)
            for partition in dropped:
                for customer_id, rows in connection.execute(
                    "DELETE FROM hourly_counts WHERE kind = %s AND hour_ms >= %s "
                    "AND hour_ms < %s RETURNING customer_id, row_count",
                    [kind.table, partition.start_ms, partition.end_ms],
                ).fetchall():
                    lost[int(customer_id)] += int(rows)
                connection.execute(
                    "DELETE FROM split_counts WHERE kind = %s AND hour_ms >= %s AND hour_ms < %s",
                    [kind.table, partition.start_ms, partition.end_ms],
                )
            cut = max(p.end_ms or 0 for p in dropped)
            for customer_id in sorted(lost):
                self._expire(connection, kind, customer_id, cut, None)
            return dict(lost)

    def _no_timeout(self, connection: Any) -> None:
        connection.execute("SET LOCAL statement_timeout = 0")

    def _apart(self) -> AbstractContextManager[Any]:
        """A connection in a transaction of its own, even within a session's."""
        raise NotImplementedError
