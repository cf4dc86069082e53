"""Following a kind's change feed (issue 16, docs/sync.md): pages to catch up, then the live
tail, resumed exactly after a dropped connection.

``change_pages`` reads the feed's JSON pages from a cursor until one says ``end_of_stream``.
``Tail`` reads the live tail (``Accept: text/event-stream``) for ever: each change once, in
commit order; after a dropped connection, a server restart or a 429/5xx it waits as the
client's ``RetryPolicy`` says and reconnects with ``Last-Event-ID``, the cursor after the
last change it yielded, so nothing is lost or repeated. ``Tail.cursor`` is that cursor:
keep it with what you applied, and pass it as ``since`` to go on later::

    with LogsClient(url, key) as client:
        tail = client.tail("cdrs", {"call_status": "answered"}, since=saved_cursor)
        for change in tail:
            apply(change)            # {"op": "upsert"|"delete", "id", "changed_at", "item"?}
            save(tail.cursor)        #  or {"op": "expire", "before", "changed_at"}: below

A retention mark (``"op": "expire"``) stands for every record of the kind whose time is
before ``before``, removed without a change of its own: apply it in its place, as
``atende_logs.sync`` does (docs/sync.md, "Retention").
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from atende_logs.client.api import (
    _PASSING_FAILURES,
    MAX_PAGE_SIZE,
    _describe,
    _refusal,
    _status_text,
    kind_named,
)
from atende_logs.client.errors import ClientError, ProtocolError, RetriesExhaustedError
from atende_logs.client.retry import TRANSIENT_STATUSES, retry_after_seconds
from atende_logs.kinds import Kind

if TYPE_CHECKING:
    from atende_logs.client.api import LogsClient, RetryNotice

Change = dict[str, Any]
"""A change object: ``op``, ``id``, ``changed_at`` and, for an upsert, ``item``; or a
retention mark: ``op`` ``expire``, ``before``, ``changed_at``."""
OPS = ("upsert", "delete", "expire")
"""The change objects' ``op``s."""
EVENT_STREAM = "text/event-stream"


def change_pages(
    client: LogsClient,
    kind: Kind | str,
    params: Mapping[str, str] | None = None,
    *,
    since: str | None = None,
    size: int = MAX_PAGE_SIZE,
    wait: int = 0,
) -> Iterator[tuple[list[Change], str]]:
    """The feed's pages from ``since`` (None: the start of the history kept) until the one
    that says ``end_of_stream``, each as (its changes, the cursor after them). With ``wait``
    (seconds, up to 60) a request finding nothing left is held until a change commits: the
    last page then brings it, or nothing once the wait ran out (a long-poll)."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValueError(f"size must be between 1 and {MAX_PAGE_SIZE}")
    kind = kind_named(kind)
    pairs, headers = client._placed(client.query(kind, params))
    while True:
        query = [*pairs, ("size", str(size))]
        if wait:
            query.append(("wait", str(wait)))
        if since is not None:
            query.append(("since", since))
        body = _json(client._get(kind.changes_path, query, headers))
        changes, cursor, end = body["changes"], body["cursor"], body["end_of_stream"]
        yield changes, cursor
        if end:
            return
        if cursor == since:
            raise ProtocolError(f"the server sent the same cursor twice ({since!r})")
        since = cursor


class Tail:
    """The live tail of a query's changes: an iterator of change objects that never ends by
    itself (``close`` it, or stop iterating). ``cursor``: after the last change yielded."""

    def __init__(
        self,
        client: LogsClient,
        kind: Kind | str,
        params: Mapping[str, str] | None = None,
        *,
        since: str | None = None,
        size: int = MAX_PAGE_SIZE,
    ) -> None:
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError(f"size must be between 1 and {MAX_PAGE_SIZE}")
        self.client = client
        self.kind = kind_named(kind)
        self.pairs, self.headers = client._placed(client.query(self.kind, params))
        self.size = size
        self.since = since
        """Where the tail began (None: the start of the history kept)."""
        self.cursor: str | None = None
        """The id of the last event yielded: where a reconnect resumes."""
        self.connections = 0
        """Streams opened so far (1 + reconnections)."""
        self._events = self._run()

    def __iter__(self) -> Iterator[Change]:
        return self

    def __next__(self) -> Change:
        return next(self._events)

    def close(self) -> None:
        """Stop: the open stream, if any, is closed."""
        self._events.close()

    def __enter__(self) -> Tail:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> Generator[Change, None, None]:
        idle = 0  # streams in a row that ended before a change
        while True:
            response = self._connect()
            got = False
            try:
                for event_id, data in _events(response.iter_lines()):
                    change = _change(data)
                    self.cursor, got = event_id, True
                    yield change
            except _PASSING_FAILURES:
                pass  # the stream was cut: reconnect from the cursor
            finally:
                response.close()
            # The server ended the stream (it shut down, or a read failed there): reconnect,
            # at once after a stream that delivered, else after the policy's growing wait.
            idle = 0 if got else idle + 1
            if idle:
                self.client._sleep(self.client.retry.wait(idle, self.client._rng))

    def _connect(self) -> httpx.Response:
        """An open stream from the cursor, tried again while it fails for a passing reason
        and the client's policy allows; ApiError for an answer no retry can change."""
        query = [*self.pairs, ("size", str(self.size))]
        headers = {**self.headers, "accept": EVENT_STREAM}
        if self.cursor is not None:
            headers["last-event-id"] = self.cursor
        elif self.since is not None:
            query.append(("since", self.since))
        client = self.client
        started, attempt = time.monotonic(), 0
        while True:
            attempt += 1
            asked: float | None = None
            try:
                request = client._http.build_request(
                    "GET", self.kind.changes_path, params=tuple(query), headers=headers
                )
                response = client._http.send(request, stream=True)
            except _PASSING_FAILURES as exc:
                problem = _describe(exc)
            except httpx.TransportError as exc:
                raise ClientError(f"cannot reach {client.url}: {_describe(exc)}") from exc
            else:
                if response.is_success:
                    if EVENT_STREAM not in response.headers.get("content-type", ""):
                        response.close()
                        raise ProtocolError("the server does not stream the change feed")
                    self.connections += 1
                    return response
                response.read()
                response.close()
                if response.status_code not in TRANSIENT_STATUSES:
                    raise _refusal(response)
                problem = _status_text(response)
                asked = retry_after_seconds(response.headers.get("retry-after"))
            _backoff(client, attempt, started, problem, asked)


def _backoff(
    client: LogsClient, attempt: int, started: float, problem: str, asked: float | None
) -> None:
    """Wait before the next try as the client's policy says, or give up."""
    policy = client.retry
    wait = policy.wait(attempt, client._rng) if asked is None else asked
    spent = time.monotonic() - started
    if attempt >= policy.attempts:
        raise RetriesExhaustedError(
            f"giving up after {attempt} tries in {spent:.1f} s; the last: {problem}"
        )
    if spent + wait > policy.give_up_after:
        raise RetriesExhaustedError(
            f"giving up after {attempt} tries in {spent:.1f} s: waiting {wait:.1f} s more "
            f"would pass the {policy.give_up_after:g} s allowed; the last: {problem}"
        )
    if client._on_retry is not None:
        client._on_retry(_notice(attempt, wait, problem))
    client._sleep(wait)


def _notice(attempt: int, wait: float, problem: str) -> RetryNotice:
    from atende_logs.client.api import RetryNotice

    return RetryNotice(attempt, wait, problem)


def _events(lines: Iterator[str]) -> Iterator[tuple[str, bytes]]:
    """(id, data) of each ``change`` event of a stream's lines (the SSE format: fields up to
    a blank line; comments, retry and other events skipped)."""
    event, event_id, data = "message", None, list[str]()
    for line in lines:
        if not line:
            if data and event == "change":
                if event_id is None:
                    raise ProtocolError("the server sent a change without an id")
                yield event_id, "\n".join(data).encode()
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\x00" not in value:
            event_id = value


def _change(data: bytes) -> Change:
    try:
        change = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"the server sent a change that is not JSON: {exc}") from exc
    if not isinstance(change, dict) or change.get("op") not in OPS:
        raise ProtocolError("the server sent an event that is not a change")
    return change


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"the server's answer is not JSON: {exc}") from exc
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("changes"), list)
        or not isinstance(body.get("cursor"), str)
        or not isinstance(body.get("end_of_stream"), bool)
    ):
        raise ProtocolError("the server's answer is not a page of changes")
    return body
