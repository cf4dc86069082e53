"""A whole filtered listing read chunk by chunk: the memory an export takes never depends
on the size of its result.

Each chunk is one short keyset read (``Store.scan``) continuing after the last item of the
one before, in the listing's order (time, then id), so chunks join into exactly the items
the JSON pages would give, once each, whatever ties they cut through.
"""

from __future__ import annotations

from dataclasses import replace

from atende_logs.export.encoders import Encoder
from atende_logs.models import SearchQuery
from atende_logs.storage.base import Store

CHUNK_ROWS = 2_000
"""Documents per read. About 5 MB of CDRs: few enough to keep a server's memory flat under
several exports at once, many enough that each read's fixed cost (a thread hop, a
transaction) stays small beside encoding and sending it."""


class Export:
    """The body of one export, produced a chunk at a time by ``next_chunk``."""

    def __init__(
        self, store: Store, query: SearchQuery, encoder: Encoder, chunk_rows: int | None = None
    ) -> None:
        self._store = store
        self._query = query
        self._encoder = encoder
        self._chunk_rows = chunk_rows or CHUNK_ROWS
        self._started = False
        self._finished = False
        self.items = 0
        """Documents read so far."""

    def next_chunk(self) -> bytes | None:
        """The next piece of the body (the encoder's head before the first documents);
        None once the whole result has been read. Blocking: call it on a worker thread.

        Raises what ``Store.scan`` raises; the first call is where a request's own errors
        (an unknown dialer, an ``after`` naming no item) come out.
        """
        if self._finished:
            return None
        chunk = self._store.scan(self._query, self._chunk_rows)
        self.items += len(chunk.items)
        if len(chunk.items) < self._chunk_rows:
            self._finished = True  # a short chunk is the last: no read to learn it
        else:
            self._query = replace(self._query, after=chunk.last, after_item=None)
        body = self._encoder.encode(chunk.items)
        if not self._started:
            self._started = True
            body = self._encoder.head() + body
        return body
