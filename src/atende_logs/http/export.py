"""An export's HTTP response: the whole listing streamed as it is read (issue 4).

The first chunk is read before the response starts (``open_export``), so every error a
request can cause, and a database that fails at once, still answers with its status and
the JSON error body. Past the first byte the status cannot change: an error then ends the
response without its final chunk, and the server closes the connection. A client sees a
truncated transfer (curl exits 18, httpx raises RemoteProtocolError), never a short file
that looks complete, and resumes with ``after=id:`` of the last item it got.

An export that has streamed for ``ATENDE_EXPORT_MAX_SECONDS`` ends the same way, between
two chunks (each holds whole items), or while the client is not reading: one request
never holds its key's concurrency slot, or a slow client the server's buffers, for ever.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from atende_logs.errors import AtendeError
from atende_logs.export.encoders import Encoder, encoder_for
from atende_logs.export.stream import Export
from atende_logs.formats import Output
from atende_logs.http.rate_limit_middleware import key_turn
from atende_logs.kinds import Kind
from atende_logs.models import SearchQuery
from atende_logs.storage.base import Store

logger = logging.getLogger("atende_logs.http")

VARY = {"Vary": "Accept, Accept-Encoding"}
"""On every search and change-feed response: the same URL answers JSON, NDJSON, CSV or an
event stream by Accept, compressed or not by Accept-Encoding (``http.compression``)."""


@dataclass(frozen=True)
class OpenedExport:
    """An export whose first chunk is read: from here on it can only stream."""

    kind: Kind
    encoder: Encoder
    export: Export
    first: bytes


def open_export(store: Store, query: SearchQuery, output: Output) -> OpenedExport:
    """Start an export of ``query`` and read its first chunk. Blocking: call it on the
    request's worker thread, after the key check.

    Raises what ``Store.scan`` raises, while a JSON error can still be answered.
    """
    encoder = encoder_for(query.kind, output)
    export = Export(store, query, encoder)
    return OpenedExport(query.kind, encoder, export, export.next_chunk() or b"")


def export_response(opened: OpenedExport) -> ExportResponse:
    filename = f"{opened.kind.name}.{opened.encoder.extension}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', **VARY}
    return ExportResponse(
        _chunks(opened), opened, headers=headers, media_type=opened.encoder.media_type
    )


async def _chunks(opened: OpenedExport) -> AsyncIterator[bytes]:
    chunk = opened.first
    while True:
        if chunk:
            yield chunk
        del chunk  # the sent chunk is let go before the next one is read
        # One hop per chunk, holding a database thread (and a turn of the key's share of
        # them) only while reading it: page requests interleave with a long export instead
        # of queueing behind it.
        async with key_turn():
            following = await run_in_threadpool(opened.export.next_chunk)
        if following is None:
            return
        chunk = following


class ExportResponse(StreamingResponse):
    """A stream that ends without its final chunk when the export fails midway or runs out
    of time."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        opened: OpenedExport,
        headers: dict[str, str],
        media_type: str,
    ) -> None:
        super().__init__(content, headers=headers, media_type=media_type)
        self._opened = opened
        self._max_seconds = float("inf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The settings the app's lifespan stored, as the request dependencies read them.
        self._max_seconds = scope["app"].state.settings.export_max_seconds
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        with anyio.move_on_after(self._max_seconds) as deadline:
            try:
                async for chunk in self.body_iterator:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except AtendeError as exc:
                # Returning without the final chunk makes the server close the connection
                # (uvicorn: "ASGI callable returned without completing response"). Raising
                # would too, but through every error handler, each logging it as a bug.
                self._stopped(exc.message)
                return
        if deadline.cancelled_caught:
            self._stopped(f"streamed for {self._max_seconds} s (ATENDE_EXPORT_MAX_SECONDS)")
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _stopped(self, why: str) -> None:
        logger.error(
            "export of %s stopped after reading %d items: %s",
            self._opened.kind.path,
            self._opened.export.items,
            why,
        )
