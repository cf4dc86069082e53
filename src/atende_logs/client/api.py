"""``LogsClient``: every item of a query, page by page, through the documented GET endpoints.

Only what the published contract promises is used: the three GET paths, the ``x-api-key``
header, ``size`` up to 1000, and ``after`` passed back unchanged until a page comes back
empty. So the client works against any server that implements the contract, with one
exception by default: the dialer token of cards travels in the ``x-dialer-token`` header,
out of URLs and the logs that record them; ``token_in_url=True`` sends it as the contract's
``token`` parameter instead, for a server that reads only that.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import msgspec
import orjson

from atende_logs import __version__
from atende_logs.client.errors import ApiError, ClientError, ProtocolError, RetriesExhaustedError
from atende_logs.client.prefetch import Prefetched
from atende_logs.client.retry import TRANSIENT_STATUSES, RetryPolicy, retry_after_seconds
from atende_logs.kinds import KINDS, Kind

if TYPE_CHECKING:
    from atende_logs.client.tail import Tail

MAX_PAGE_SIZE = 1000
"""The contract's largest page."""
TOKEN_VARIABLE = "ATENDE_DIALER_TOKEN"
"""Where the client finds the dialer token of cards when it is given none."""
DIALER_TOKEN_HEADER = "x-dialer-token"
"""The header the dialer token travels in (unless ``token_in_url``)."""
_LOOPBACK_NAMES = frozenset({"localhost"})
COMPRESSED = "zstd, br, gzip"
"""What the client accepts by default: a page of 1,000 CDRs is 2.6 MB as it is and about
140 kB with zstd. httpx decodes each (zstd with ``zstandard``, br with ``brotli``)."""

After = int | str
"""A page's ``after``: epoch milliseconds or an opaque token. Pass it back unchanged."""

_HEAD = re.compile(rb'\{"total":\d+,"after":(-?\d+|"(?:[^"\\]|\\.)*"),')
"""The start of our server's pages (http.responses.page_body): the after before the items."""
_HEAD_BYTES = 4096
"""How far into a page its after is looked for."""

# Failures that say nothing about the request itself: the same request may well succeed
# later. (httpx's other transport errors, a bad scheme or a proxy refusing, will not.)
_PASSING_FAILURES = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class Page:
    """One non-empty page of a query."""

    total: int
    """Items matching the query when the page was served, ignoring ``after``."""
    after: After
    """Where this page ends: give it as ``after`` to continue right after it."""
    raw_items: Sequence[bytes]
    """Each document's JSON text, as the server sent it: what a pull to NDJSON writes."""

    @cached_property
    def items(self) -> list[dict[str, Any]]:
        """The documents, keys in the order the server sent them (parsed when first asked)."""
        return [orjson.loads(raw) for raw in self.raw_items]


@dataclass(frozen=True)
class RetryNotice:
    """A failed try that will be retried: told to ``on_retry`` before the wait."""

    attempt: int
    """The try that failed, 1 for the first."""
    wait: float
    """Seconds until the next try."""
    problem: str
    """What went wrong, for people (``503 query_timeout``, ``ConnectError``, …)."""


def kind_named(kind: Kind | str) -> Kind:
    """``kind`` itself, or the kind of that name (``attendant-logs``, ``cdrs``, ``cards``):
    what the client's public methods take. Raises ValueError for an unknown name."""
    if isinstance(kind, Kind):
        return kind
    found = KINDS.get(kind)
    if found is None:
        raise ValueError(f"unknown kind {kind!r}; one of: {', '.join(KINDS)}")
    return found


def query_parameters(kind: Kind) -> list[str]:
    """The parameters a query of ``kind`` may set (``after`` and ``size`` are the client's)."""
    token = ["token"] if kind.scope.by_dialer else []
    return [*token, "start_at", "end_at", "tz", *(spec.param for spec in kind.filters)]


def check_params(kind: Kind, params: Mapping[str, str]) -> list[tuple[str, str]]:
    """``params`` as query pairs, after checking every name is one ``kind`` accepts.

    A misspelt filter is refused here rather than sent: a server that ignored it would
    return everything. Raises ValueError.
    """
    accepted = query_parameters(kind)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"{kind.name} has no parameter {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(accepted)}"
        )
    if "token" in accepted and not params.get("token"):
        raise ValueError(f"{kind.name} needs the dialer's token (token, or {TOKEN_VARIABLE})")
    return list(params.items())


def check_transport(url: str, allow_insecure_http: bool = False) -> None:
    """Refuse a URL over which the key would travel in clear text.

    ``https://`` always passes; ``http://`` only to a loopback address (127.0.0.0/8, ::1,
    ``localhost``), where nothing crosses a network, or with ``allow_insecure_http``.
    Raises ValueError.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"the URL must start with http:// or https://: {url!r}")
    if url.startswith("https://") or allow_insecure_http:
        return
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a URL: {url!r} ({exc})") from exc
    if not _is_loopback(host):
        raise ValueError(
            f"refusing to send the API key over plain http:// to {host or url!r}: anyone on "
            "the way can read it. Use https://, or allow it (--allow-insecure-http, "
            "allow_insecure_http=True) on a network you trust."
        )


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LogsClient:
    """A customer's view of a logs server: ``items`` and ``pages`` of a query.

    Requests that fail for a passing reason are retried as ``retry`` says; other errors
    raise ``ApiError`` at once. Use it as a context manager, or call ``close``::

        with LogsClient("https://api.example.com", key) as client:
            for cdr in client.items("cdrs", {"start_at": "2026-11-01"}):
                print(cdr["callid"])

    The dialer token of cards is ``params["token"]``, else ``dialer_token``, else the
    ``ATENDE_DIALER_TOKEN`` environment variable; it is sent in the ``x-dialer-token``
    header, never in the URL, unless ``token_in_url``. A plain ``http://`` URL is refused
    unless it names a loopback address or ``allow_insecure_http`` is set
    (``check_transport``).

    Answers come compressed when the server offers it (``COMPRESSED``); ``compress=False``
    asks for them as they are.

    ``sleep`` and ``rng`` are there for tests; ``transport`` swaps the HTTP transport.
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        dialer_token: str | None = None,
        token_in_url: bool = False,
        allow_insecure_http: bool = False,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        on_retry: Callable[[RetryNotice], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        compress: bool = True,
    ) -> None:
        check_transport(url, allow_insecure_http)
        self.url = url.rstrip("/")
        self.dialer_token = dialer_token or os.environ.get(TOKEN_VARIABLE) or None
        self.token_in_url = token_in_url
        self.retry = retry or RetryPolicy()
        self._on_retry = on_retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http = httpx.Client(
            base_url=self.url,
            headers={
                "x-api-key": key,
                "user-agent": f"atende-logs/{__version__}",
                "accept-encoding": COMPRESSED if compress else "identity",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            # A redirect could carry the key to another host: it is reported, not followed.
            follow_redirects=False,
        )

    def __enter__(self) -> LogsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def items(
        self,
        kind: Kind | str,
        params: Mapping[str, str] | None = None,
        *,
        after: After | None = None,
        size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Every item of the query, in the server's order, each once. See ``pages``."""
        for page in self.pages(kind, params, after=after, size=size):
            yield from page.items

    def pages(
        self,
        kind: Kind | str,
        params: Mapping[str, str] | None = None,
        *,
        after: After | None = None,
        size: int = MAX_PAGE_SIZE,
        ahead: bool = False,
    ) -> Generator[Page, None, None]:
        """The query's non-empty pages in order, from the start or from right after ``after``.

        ``kind`` is a ``Kind`` or its name: ``attendant-logs``, ``cdrs`` or ``cards``;
        ``params`` are the query's
        filters by their contract names (``start_at``, ``end_at``, ``token`` for cards, …).
        To resume an interrupted listing, pass the ``after`` of the last page you kept.
        Raises ValueError for an unknown kind or parameter, ``ApiError``,
        ``RetriesExhaustedError`` or ``ProtocolError`` when the server does not deliver.

        ``ahead``: a thread asks for the next page while the caller works on this one
        (``prefetch.Prefetched``). It asks as soon as the page's ``after`` is known: from
        the page's first bytes when the server writes it before the items (ours does),
        while the rest of the page is still on its way (``_overlapped_bodies``); else once
        the page is parsed.
        """
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError(f"size must be between 1 and {MAX_PAGE_SIZE}")
        kind = kind_named(kind)
        pairs, headers = self._placed(self.query(kind, params))
        bodies: Iterator[tuple[bytes, Page | None, After | None]]
        if ahead:
            overlapped = self._overlapped_bodies(kind.path, pairs, headers, after, size)
            bodies = Prefetched(overlapped, name="pages-ahead")
        else:
            bodies = self._bodies(kind.path, pairs, headers, after, size)
        try:
            for content, parsed, expected in bodies:
                page = parsed or _page(content)
                if page is None:
                    return  # an empty page with an after: the listing ends all the same
                if expected is not None and page.after != expected:
                    raise ProtocolError(
                        f"the page's after is {page.after!r} and {expected!r} in its first bytes"
                    )
                yield page
        finally:
            close = getattr(bodies, "close", None)
            if close is not None:
                close()

    def _bodies(
        self,
        path: str,
        pairs: list[tuple[str, str]],
        headers: dict[str, str],
        after: After | None,
        size: int,
    ) -> Iterator[tuple[bytes, Page | None, After | None]]:
        """Each page's body until the empty one, with the page when it had to be parsed to
        find its after, else the after its first bytes give."""
        while True:
            content = self._get(path, _page_query(pairs, size, after), headers).content
            head = _head_after(content)
            page = None
            if head is None:
                page = _page(content)
                if page is None:
                    return
                following = _moved_on(after, page.after)
            else:
                following = _moved_on(after, head)
            yield content, page, head
            after = following

    def _overlapped_bodies(
        self,
        path: str,
        pairs: list[tuple[str, str]],
        headers: dict[str, str],
        after: After | None,
        size: int,
    ) -> Iterator[tuple[bytes, Page | None, After | None]]:
        """``_bodies``, with each page asked for as soon as the previous one's first bytes
        give its after, on another connection, while the rest of that one is read here.

        Over a slow link the server's work on the next page (its query, its compression)
        then overlaps this page's transfer instead of leaving the link idle between pages
        (docs/benchmarks.md, "Over a real link"). A page whose body breaks off after its
        first bytes is asked for again whole, with the usual retries; ``pages`` checks its
        after against the one its first bytes gave, on which the next request went out.
        """

        def opened(after: After | None) -> Future[_Opened]:
            return opener.submit(self._opened, path, _page_query(pairs, size, after), headers)

        # One thread opens the next page's answer; it never reads past its first bytes.
        opener = ThreadPoolExecutor(max_workers=1, thread_name_prefix="next-page")
        pending: Future[_Opened] | None = opened(after)
        try:
            while pending is not None:
                current, pending = pending.result(), None
                if current.head is not None:
                    pending = opened(_moved_on(after, current.head))
                content = self._rest(current, path, _page_query(pairs, size, after), headers)
                page = None
                if current.head is None:
                    page = _page(content)
                    if page is None:
                        return
                    pending = opened(_moved_on(after, page.after))
                yield content, page, current.head
                after = page.after if page is not None else current.head
        finally:
            if pending is not None and not pending.cancel():
                pending.add_done_callback(_close_opened)
            opener.shutdown(wait=False)

    def _opened(self, path: str, query: list[tuple[str, str]], headers: dict[str, str]) -> _Opened:
        """A page's answer, open, with its first bytes read and the after they give."""
        response = self._get(path, query, headers, stream=True)
        chunks = response.iter_bytes()
        first = bytearray()
        try:
            for chunk in chunks:
                first += chunk
                if len(first) >= _HEAD_BYTES or b'"items"' in first:
                    break
        except _PASSING_FAILURES:
            response.close()
            return _Opened(None, bytes(first), iter(()), None)
        return _Opened(response, bytes(first), chunks, _head_after(bytes(first)))

    def _rest(
        self,
        opened: _Opened,
        path: str,
        query: list[tuple[str, str]],
        headers: dict[str, str],
    ) -> bytes:
        """The whole body of an opened answer; asked for again, whole, if it broke off."""
        if opened.response is not None:
            try:
                return opened.first + b"".join(opened.chunks)
            except _PASSING_FAILURES:
                pass
            finally:
                opened.response.close()
        return self._get(path, query, headers).content

    def tail(
        self,
        kind: Kind | str,
        params: Mapping[str, str] | None = None,
        *,
        since: str | None = None,
        size: int = MAX_PAGE_SIZE,
    ) -> Tail:
        """The live tail of the query's changes from ``since`` (a cursor, a date; None: the
        start of the history kept): an endless iterator of change objects, reconnecting
        with ``Last-Event-ID`` after a dropped connection (``client.tail.Tail``)."""
        from atende_logs.client.tail import Tail

        return Tail(self, kind, params, since=since, size=size)

    def change_pages(
        self,
        kind: Kind | str,
        params: Mapping[str, str] | None = None,
        *,
        since: str | None = None,
        size: int = MAX_PAGE_SIZE,
        wait: int = 0,
    ) -> Iterator[tuple[list[dict[str, Any]], str]]:
        """The feed's pages from ``since`` until ``end_of_stream``: (changes, cursor after
        them) each; ``wait`` long-polls the last one (``client.tail.change_pages``)."""
        from atende_logs.client.tail import change_pages

        return change_pages(self, kind, params, since=since, size=size, wait=wait)

    def query(self, kind: Kind | str, params: Mapping[str, str] | None) -> list[tuple[str, str]]:
        """The query's parameters by their contract names, checked (``check_params``): the
        dialer token among them, the client's own when ``params`` has none (``pages`` then
        moves it into its header). Raises ValueError."""
        kind = kind_named(kind)
        params = dict(params or {})
        if kind.scope.by_dialer and not params.get("token") and self.dialer_token:
            params["token"] = self.dialer_token
        return check_params(kind, params)

    def _placed(self, pairs: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], dict[str, str]]:
        """The query without the dialer token, and the header carrying it (unless
        ``token_in_url``): a URL ends up in proxies' and servers' logs, a header does not."""
        if self.token_in_url:
            return pairs, {}
        token = [value for name, value in pairs if name == "token"]
        headers = {DIALER_TOKEN_HEADER: token[0]} if token else {}
        return [(name, value) for name, value in pairs if name != "token"], headers

    def _get(
        self,
        path: str,
        query: list[tuple[str, str]],
        headers: dict[str, str] | None = None,
        *,
        stream: bool = False,
    ) -> httpx.Response:
        """One GET, tried again while it fails for a passing reason and the policy allows.

        ``stream``: a successful answer comes back with its body unread (the caller reads
        and closes it); a failed one is read whole, to say why."""
        started, attempt = time.monotonic(), 0
        while True:
            attempt += 1
            try:
                request = self._http.build_request(
                    "GET", path, params=tuple(query), headers=headers
                )
                response = self._http.send(request, stream=stream)
                if stream and not response.is_success:
                    try:
                        response.read()
                    finally:
                        response.close()
            except _PASSING_FAILURES as exc:
                problem, asked = _describe(exc), None
            except httpx.TransportError as exc:
                raise ClientError(f"cannot reach {self.url}: {_describe(exc)}") from exc
            else:
                if response.is_success:
                    return response
                if response.status_code not in TRANSIENT_STATUSES:
                    raise _refusal(response)
                problem = _status_text(response)
                asked = retry_after_seconds(response.headers.get("retry-after"))
            wait = self.retry.wait(attempt, self._rng) if asked is None else asked
            spent = time.monotonic() - started
            if attempt == self.retry.attempts:
                raise RetriesExhaustedError(
                    f"giving up after {attempt} tries in {spent:.1f} s; the last: {problem}"
                )
            if spent + wait > self.retry.give_up_after:
                raise RetriesExhaustedError(
                    f"giving up after {attempt} tries in {spent:.1f} s: waiting {wait:.1f} s "
                    f"more would pass the {self.retry.give_up_after:g} s allowed; "
                    f"the last: {problem}"
                )
            if self._on_retry is not None:
                self._on_retry(RetryNotice(attempt, wait, problem))
            self._sleep(wait)


def _page_query(
    pairs: list[tuple[str, str]], size: int, after: After | None
) -> list[tuple[str, str]]:
    """A page's query: the listing's parameters, its size, and where it starts."""
    return [*pairs, ("size", str(size))] + ([] if after is None else [("after", str(after))])


def _moved_on(after: After | None, following: After) -> After:
    """``following``, the after of the page asked for with ``after``, once it is known to
    move the listing on: the same one twice would page forever."""
    if following == after:
        raise ProtocolError(f"the server sent the same after twice ({after!r})")
    return following


@dataclass(frozen=True)
class _Opened:
    """A page's answer with its first bytes read: ``response`` None when it broke off
    there (the page is then asked for again whole)."""

    response: httpx.Response | None
    first: bytes
    chunks: Iterator[bytes]
    head: After | None


def _close_opened(future: Future[_Opened]) -> None:
    """Close the answer a stopped listing opened and will not read."""
    if not future.cancelled() and future.exception() is None:
        response = future.result().response
        if response is not None:
            response.close()


def _head_after(content: bytes) -> After | None:
    """The after in a page's first bytes, None when they do not start as ours do (the
    contract does not fix the keys' order) or hold none (the empty page's ``null``)."""
    found = _HEAD.match(content, 0, _HEAD_BYTES)
    if found is None:
        return None
    try:
        after = orjson.loads(found.group(1))
    except orjson.JSONDecodeError:
        return None
    return after if isinstance(after, int | str) and after != "" else None


_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
"""A JSON integer orjson reads as one (it reads a larger one as a float, which
``_checked_page`` then refuses: outside this range, the fast read leaves the body to it)."""


class _WirePage(msgspec.Struct):
    """A page as the contract writes it, its items left as the JSON texts they came as."""

    items: list[msgspec.Raw]
    total: _Int64
    after: _Int64 | str | None = None


_WIRE_PAGE = msgspec.json.Decoder(_WirePage)
_OPEN_BRACE = ord("{")


def _page(content: bytes) -> Page | None:
    """The page a 2xx answer's body holds, None for the empty page that ends a listing.

    Its items are found as byte ranges, not parsed: a pull to NDJSON writes them as they
    are, and parsing every page into Python objects was most of a pull's CPU
    (docs/benchmarks-history.md#2026-12-07-a-pull-at-the-links-rate-issue-17). A body that
    way does not take is parsed whole by ``_checked_page``, which says what is wrong."""
    try:
        wire = _WIRE_PAGE.decode(content)
    except msgspec.DecodeError:
        return _checked_page(content)
    if not wire.items:
        return None
    if wire.after is None or wire.after == "" or not all(_is_object(raw) for raw in wire.items):
        return _checked_page(content)
    return Page(wire.total, wire.after, [bytes(raw) for raw in wire.items])


def _is_object(raw: msgspec.Raw) -> bool:
    return memoryview(raw)[0] == _OPEN_BRACE


def _checked_page(content: bytes) -> Page | None:
    """``_page``, parsing the whole body to tell what is wrong with it."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"the server's answer is not JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ProtocolError("the server's answer is not a page: no list of items")
    items, after, total = body["items"], body.get("after"), body.get("total")
    if not items:
        return None
    if not all(isinstance(item, dict) for item in items):
        raise ProtocolError("the server's page holds items that are not JSON objects")
    if isinstance(after, bool) or not isinstance(after, int | str) or after == "":
        raise ProtocolError(f"the server's page has items but no usable after: {after!r}")
    if isinstance(total, bool) or not isinstance(total, int):
        raise ProtocolError(f"the server's page has no whole-number total: {total!r}")
    return Page(total, after, [orjson.dumps(item) for item in items])


def _refusal(response: httpx.Response) -> ApiError:
    """An ``ApiError`` from the contract's error body, or from whatever the server sent."""
    status = response.status_code
    if response.is_redirect:
        where = response.headers.get("location", "?")
        return ApiError(status, f"the server redirects to {where}; use that URL instead")
    try:
        error = orjson.loads(response.content)["error"]
        return ApiError(status, str(error["message"]), error.get("code"), error.get("parameter"))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        text = " ".join(response.text.split())[:200]
        return ApiError(status, text or response.reason_phrase or "no explanation")


def _status_text(response: httpx.Response) -> str:
    """``503 query_timeout``: the status and, when the body has one, the error code."""
    try:
        code = orjson.loads(response.content)["error"]["code"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return f"{response.status_code} {response.reason_phrase}".strip()
    return f"{response.status_code} {code}"


def _describe(exc: httpx.TransportError) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
