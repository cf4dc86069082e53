"""Pages asked for ahead (``pages(ahead=True)``): the next page's request goes out while the
current page's body is still arriving, a body that breaks off midway is asked for again
whole, and a listing stopped early closes the answer it had opened ahead."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import orjson
import pytest

from atende_logs.client import LogsClient, ProtocolError

WAIT = 5.0
"""Seconds a body waits for the next request before giving up on seeing it (a failure)."""


def _page(n: int, after: int | None, items: int = 50) -> tuple[bytes, bytes]:
    """A page as our server writes it, split after its first bytes."""
    docs = [{"n": n, "i": i, "pad": "x" * 100} for i in range(items)] if after else []
    body = b'{"total":150,"after":%b,"items":%b}' % (orjson.dumps(after), orjson.dumps(docs))
    return body[:40], body[40:]


class _Body(httpx.SyncByteStream):
    """A body sent in two parts; before the second, ``before_rest`` runs (it may raise, as
    a connection that breaks off does)."""

    def __init__(self, parts: tuple[bytes, bytes], before_rest: object = None) -> None:
        self.parts = parts
        self.before_rest = before_rest
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield self.parts[0]
        if callable(self.before_rest):
            self.before_rest()
        yield self.parts[1]

    def close(self) -> None:
        self.closed.set()


def _client(handle: object) -> LogsClient:
    return LogsClient(
        "https://logs.test",
        "k",
        transport=httpx.MockTransport(handle),  # type: ignore[arg-type]
        sleep=lambda _: None,
    )


PAGES = {None: _page(0, 10), "10": _page(1, 20), "20": _page(2, 30), "30": _page(3, None)}
"""Each page by the after it is asked with."""


def test_the_next_page_is_asked_for_before_this_one_has_arrived() -> None:
    asked: dict[str | None, threading.Event] = {after: threading.Event() for after in PAGES}
    seen_while_arriving: list[bool] = []
    following = {None: "10", "10": "20", "20": "30"}

    def handle(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        asked[after].set()

        def before_rest() -> None:
            if after in following:
                seen_while_arriving.append(asked[following[after]].wait(WAIT))

        return httpx.Response(200, stream=_Body(PAGES[after], before_rest))

    with _client(handle) as client:
        got = list(client.pages("cdrs", ahead=True))
    assert [page.after for page in got] == [10, 20, 30]
    assert [item["n"] for page in got for item in page.items] == [0] * 50 + [1] * 50 + [2] * 50
    assert seen_while_arriving == [True, True, True]


def test_without_ahead_a_page_is_asked_for_once_the_last_has_arrived() -> None:
    """The control of the test above: the waits time out when nothing overlaps."""
    asked: dict[str | None, threading.Event] = {after: threading.Event() for after in PAGES}
    seen_while_arriving: list[bool] = []

    def handle(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        asked[after].set()

        def before_rest() -> None:
            if after is None:
                seen_while_arriving.append(asked["10"].wait(0.2))

        return httpx.Response(200, stream=_Body(PAGES[after], before_rest))

    with _client(handle) as client:
        assert [page.after for page in client.pages("cdrs")] == [10, 20, 30]
    assert seen_while_arriving == [False]


@pytest.mark.parametrize("broken", [None, "10", "30"])
def test_a_body_broken_off_midway_is_asked_for_again_whole(broken: str | None) -> None:
    requests: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        first_time = after not in requests
        requests.append(after)

        def before_rest() -> None:
            if after == broken and first_time:
                raise httpx.ReadError("connection reset")

        return httpx.Response(200, stream=_Body(PAGES[after], before_rest))

    with _client(handle) as client:
        got = list(client.pages("cdrs", ahead=True))
    assert [item["n"] for page in got for item in page.items] == [0] * 50 + [1] * 50 + [2] * 50
    assert sorted(requests, key=str) == sorted([*PAGES, broken], key=str)


def test_a_page_asked_again_must_end_where_its_first_bytes_said() -> None:
    """The next request went out on the first bytes' after: a page that comes back
    different when asked again whole is an error, not a gap or a repeat."""
    requests: list[str | None] = []
    changed = {**PAGES, "10": _page(1, 25)}

    def handle(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        again = after in requests
        requests.append(after)

        def before_rest() -> None:
            if after == "10" and not again:
                raise httpx.ReadError("connection reset")

        source = changed if again else PAGES
        return httpx.Response(200, stream=_Body(source[after], before_rest))

    with _client(handle) as client, pytest.raises(ProtocolError, match="first bytes"):
        list(client.pages("cdrs", ahead=True))


def test_stopping_early_closes_the_answer_opened_ahead() -> None:
    bodies: dict[str | None, _Body] = {}

    def handle(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        bodies[after] = _Body(PAGES[after])
        return httpx.Response(200, stream=bodies[after])

    with _client(handle) as client:
        pages = client.pages("cdrs", ahead=True)
        assert next(pages).after == 10
        pages.close()
        for after in (None, "10"):  # read, and opened ahead (perhaps not yet when closed)
            if after in bodies:
                assert bodies[after].closed.wait(WAIT), f"the answer to after={after} is open"
    assert None in bodies
