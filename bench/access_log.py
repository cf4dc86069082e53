"""``python -m bench.access_log``: what masking the query costs each request's log line.

The access log writes a line for every request, so its masking is on every request's path.
Times ``redact_query`` on queries customers send (µs per call, best of 5 rounds), from an
empty one to one naming personal parameters. To compare with older code, run it with
``PYTHONPATH`` pointing at that code's ``src``.
"""

from __future__ import annotations

import timeit
from pathlib import Path

import atende_logs
from atende_logs.http.access_log import redact_query

QUERIES = {
    "none": "",
    "times and size": "start_at=2026-11-01&end_at=2026-11-30&size=1000",
    "a page further": "start_at=2026-11-01T00:00:00-03:00&size=100&call_status=answered"
    "&after=1700000000000",
    "escaped times": "start_at=2026-11-01T00%3A00%3A00-03%3A00&end_at=2026-11-30&size=1000",
    "an attendant": "attendant_email=rh1%40atende.com&start_at=2026-11-01&size=100",
    "a card": "token=atl_dlr_0123456789abcdefghijklABCDEF&number=5511987654321&size=5",
}


def main() -> None:
    print(f"code: {Path(atende_logs.__file__).parent}")
    for label, query in QUERIES.items():
        calls = 100_000
        best = min(timeit.repeat(lambda q=query: redact_query(q), number=calls, repeat=5))
        print(f"{label:<16} {best / calls * 1e6:6.2f} µs   {redact_query(query)}")


if __name__ == "__main__":
    main()
