"""``atende-logs sync``: a query's records kept exact in a table of the customer's database
(DuckDB, SQLite or PostgreSQL), from the change feed (issue 16, docs/sync.md).

``Sync`` reads the feed through the client (``LogsClient.change_pages``) and writes each
page, with the cursor after it, in one transaction of a ``Destination`` (``destination``;
one module per database). It may use ``client`` and ``kinds``, never the server's parts.
"""

from __future__ import annotations

from atende_logs.sync.destination import (
    Destination,
    SyncError,
    SyncState,
    open_destination,
)
from atende_logs.sync.runner import Progress, Sync

__all__ = ["Destination", "Progress", "Sync", "SyncError", "SyncState", "open_destination"]
