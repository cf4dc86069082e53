"""The live tail of a change feed (issue 16): Server-Sent Events as changes commit.

``GET <list path>/changes`` with ``Accept: text/event-stream`` answers a stream instead of a
page. Each change is one event: ``id:`` the cursor after it, ``event: change``, ``data:``
the change object exactly as in the JSON page. A comment (``: keep-alive``) goes out when
no change came for ``ATENDE_STREAM_HEARTBEAT_S`` seconds. A client that lost the stream
reconnects with ``Last-Event-ID`` (the ``id`` of the last event it got), which takes the
place of ``since``, and gets exactly the rest.

Everything a request can get wrong (a parameter, the key, a ``since`` older than the history
kept: 410) is answered before the stream starts, in the one error shape. The stream holds a
watch (``storage._signal``) taken before its first read, so no commit falls between a read
and the wait after it; it waits without a database thread or its key's turn, taking a turn
only to read. It ends when the client goes away (Starlette cancels it on
``http.disconnect``), when the server shuts down, or when a read fails; the watch is given
back in each case, and the key's concurrency slot with the request.
"""

from __future__ import annotations

import enum
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from functools import lru_cache

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Send

from atende_logs.errors import AtendeError, ParameterError
from atende_logs.http.rate_limit_middleware import give_turn, key_turn
from atende_logs.models import Change, ChangePage, ChangeQuery
from atende_logs.query.changes import encode_cursor
from atende_logs.storage import ChangeWatch, Store

logger = logging.getLogger("atende_logs.http")

EVENT_STREAM = "text/event-stream"
LAST_EVENT_ID = "last-event-id"
SHUTDOWN_POLL_S = 0.5
"""How often a waiting stream looks whether the server is shutting down (no database work)."""
OPENED = b": open\n\n"
"""The first bytes of every stream: its headers and this reach the client at once, and
from then on every commit reaches it (the watch was taken before the first read)."""
HEARTBEAT = b": keep-alive\n\n"


def wants_events(accept: str | None) -> bool:
    """Whether an Accept header asks for the live tail."""
    return accept is not None and EVENT_STREAM in accept.lower()


def resumed(params: list[tuple[str, str]], last_event_id: str | None) -> list[tuple[str, str]]:
    """The request's parameters with ``Last-Event-ID`` as ``since``.

    Both given and different: ParameterError, as the client cannot mean both.
    """
    if last_event_id is None:
        return params
    last = last_event_id.strip()
    given = [value for name, value in params if name == "since"]
    if any(value.strip() != last for value in given):
        raise ParameterError(
            "since",
            "since e Last-Event-ID diferentes: envie só um (Last-Event-ID retoma o stream)",
        )
    return [(name, value) for name, value in params if name != "since"] + [("since", last)]


def change_json(change: Change) -> list[bytes]:
    """A change object as in the JSON page, in pieces (the document as stored)."""
    if change.expired_before_ms is not None:
        return [mark_head(change), b"}"]
    head = b'{"op":"%b","id":%b,"changed_at":"%b"' % (
        b"delete" if change.doc is None else b"upsert",
        orjson.dumps(change.doc_id),
        iso_ms(change.changed_at_ms),
    )
    if change.doc is None:
        return [head, b"}"]
    return [head, b',"item":', change.doc, b"}"]


def mark_head(change: Change) -> bytes:
    """A retention mark's object but its closing brace: ``{"op":"expire","before":…,
    "changed_at":…`` (docs/sync.md, "Retention"): no ``id``, no ``item``."""
    assert change.expired_before_ms is not None
    return b'{"op":"expire","before":"%b","changed_at":"%b"' % (
        iso_ms(change.expired_before_ms),
        iso_ms(change.changed_at_ms),
    )


def change_event(change: Change) -> bytes:
    """One change as an event: its cursor, its type, its object."""
    data = b"".join(change_json(change))
    if b"\n" in data or b"\r" in data:  # whitespace of a stored document: one data line each
        data = b"\ndata: ".join(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"))
    cursor = encode_cursor(change.position).encode()
    return b"id: %b\nevent: change\ndata: %b\n\n" % (cursor, data)


def server_exiting() -> bool:
    """Whether the server was told to stop (SIGTERM/SIGINT to uvicorn).

    uvicorn waits for every open response before it shuts down and tells an application
    nothing of it (ASGI has no such message before the lifespan's, which comes after), so a
    stream would hold a shutdown for ever. uvicorn's signal handler is its server's bound
    ``handle_exit``, which sets ``should_exit``: read that. Another server: never.
    """
    handler = signal.getsignal(signal.SIGTERM)
    server = getattr(handler, "__self__", None)
    return bool(getattr(server, "should_exit", False))


async def tail(
    store: Store,
    query: ChangeQuery,
    watch: ChangeWatch,
    first: ChangePage,
    heartbeat_s: float,
    exiting: Callable[[], bool] = server_exiting,
) -> AsyncIterator[bytes]:
    """The events of ``query`` from ``first`` on, for as long as the client listens."""
    give_turn()  # the key's database turn is not held while waiting
    with watch:
        yield OPENED
        page = first
        while True:
            for change in page.changes:
                yield change_event(change)
            while page.end_of_stream:
                woke = await _wait(watch, heartbeat_s, exiting)
                if woke is _Woke.EXIT:
                    return
                if woke is _Woke.CHANGE:
                    break
                yield HEARTBEAT
            watch.clear()  # before the read: a commit during it fires the watch again
            query = replace(query, since=page.position, since_ms=None)
            try:
                async with key_turn():
                    page = await run_in_threadpool(store.changes_since, query)
            except AtendeError as exc:
                # Ends without the final chunk: the client sees a cut stream and resumes.
                logger.error("live tail of %s stopped: %s", query.listing.kind.path, exc.message)
                raise StreamCut from exc


class StreamCut(Exception):
    """A read failed mid-stream: the response ends without its final chunk."""


class _Woke(enum.Enum):
    CHANGE = "change"
    HEARTBEAT = "heartbeat"
    EXIT = "exit"


async def _wait(watch: ChangeWatch, heartbeat_s: float, exiting: Callable[[], bool]) -> _Woke:
    """Wait for a change, a heartbeat's time, or a shutdown."""
    deadline = time.monotonic() + heartbeat_s
    while True:
        if exiting():
            return _Woke.EXIT
        left = deadline - time.monotonic()
        if left <= 0:
            return _Woke.HEARTBEAT
        if await watch.changed(min(left, SHUTDOWN_POLL_S)):
            return _Woke.CHANGE


def iso_ms(epoch_ms: int) -> bytes:
    """An epoch millisecond in ISO 8601 UTC: ``2020-02-06T20:28:34.072Z``."""
    seconds, ms = divmod(epoch_ms, 1000)
    return b"%b.%03dZ" % (_iso_second(seconds), ms)


@lru_cache(maxsize=4096)  # a page's changes share few seconds
def _iso_second(epoch_s: int) -> bytes:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_s)).encode()


class EventStreamResponse(StreamingResponse):
    """A live tail: ``text/event-stream``, not buffered by a proxy (nginx's header; never
    cached: ``http.cache_headers`` adds ``Cache-Control: no-store`` to every answer)."""

    media_type = EVENT_STREAM

    def __init__(self, content: AsyncIterator[bytes], headers: dict[str, str]) -> None:
        headers = {"X-Accel-Buffering": "no", **headers}
        super().__init__(content, headers=headers, media_type=EVENT_STREAM)

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async for chunk in self.body_iterator:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except StreamCut:
            # Returning without the final chunk makes the server close the connection
            # (as an export that fails midway, http.export).
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
