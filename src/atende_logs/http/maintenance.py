"""The server's upkeep of its database while it runs: time partitions made ahead
(PostgreSQL; docs/partitions.md), at start and every ``UPKEEP_INTERVAL_S``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from anyio import to_thread

from atende_logs.storage import Store

UPKEEP_INTERVAL_S = 6 * 3600.0
"""Often enough that the months ahead (ATENDE_PARTITIONS_AHEAD, 3 by default) never run out
even if a few runs fail; a run that finds nothing to do costs a catalog read per table."""

log = logging.getLogger("atende_logs.maintenance")


@contextlib.asynccontextmanager
async def partition_upkeep(store: Store) -> AsyncIterator[None]:
    """Run the upkeep in the background for as long as the block lasts."""
    if store.backend != "postgresql":
        yield
        return
    task = asyncio.create_task(_keep(store), name="atende-partition-upkeep")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _keep(store: Store) -> None:
    while True:
        try:
            made = await to_thread.run_sync(store.maintain_partitions)
        except Exception:  # a busy table (lock timeout), a database away: try next time
            log.warning(
                "partition upkeep failed; next try in %.0f s", UPKEEP_INTERVAL_S, exc_info=True
            )
        else:
            if made:
                log.info("partitions created: %s", ", ".join(made))
        await asyncio.sleep(UPKEEP_INTERVAL_S)
