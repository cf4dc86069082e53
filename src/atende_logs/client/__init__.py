"""A client of the customer logs API: every item of a query, retried and resumable.

It speaks only the published contract (the three GET endpoints, ``x-api-key``, ``after``
passed back until an empty page), so it works against any server that implements it::

    from atende_logs.client import LogsClient

    with LogsClient("http://127.0.0.1:8000", key) as client:
        for cdr in client.items("cdrs", {"start_at": "2026-11-01", "end_at": "2026-11-30"}):
            print(cdr["callid"], cdr["call_status"])

``pull_to_file`` (and the ``atende-logs pull`` command built on it) writes a query into an
NDJSON, CSV or Parquet file (``Output(Format.CSV)``, or ``output_for_path("cdrs.csv")``)
and resumes an interrupted pull where it stopped. ``client.tail(kind, params, since=cursor)``
follows a query's change feed live (``client.tail``, docs/sync.md).
"""

from atende_logs.client.api import MAX_PAGE_SIZE, After, LogsClient, Page, RetryNotice
from atende_logs.client.errors import (
    ApiError,
    ClientError,
    MissingExtraError,
    ProtocolError,
    PullError,
    RetriesExhaustedError,
    StateMismatchError,
)
from atende_logs.client.pull import Pull, PullResult, output_for_path, pull_to_file
from atende_logs.client.retry import RetryPolicy
from atende_logs.client.state import PullState
from atende_logs.client.tail import Tail
from atende_logs.formats import Format, Output

__all__ = [
    "MAX_PAGE_SIZE",
    "After",
    "ApiError",
    "ClientError",
    "Format",
    "LogsClient",
    "MissingExtraError",
    "Output",
    "Page",
    "ProtocolError",
    "Pull",
    "PullError",
    "PullResult",
    "PullState",
    "RetriesExhaustedError",
    "RetryNotice",
    "RetryPolicy",
    "StateMismatchError",
    "Tail",
    "output_for_path",
    "pull_to_file",
]
