"""Compressed answers of the search and change-feed routes (issue 17), by ``Accept-Encoding``.

Customers pull over the internet: a page of 1,000 CDRs is 2.6 MB of JSON and about 140 kB
with zstd. The codings offered are zstd, br and gzip, zstd preferred whatever order the
client lists them in (it compresses best per CPU millisecond; docs/benchmarks.md, "Over a
real link", has the figures each level was picked by).

Only routes that say so are compressed (their ``compressible`` attribute: the search and
change-feed routes), and only their 200s: health, metrics, OpenAPI and every error answer
go out as they are. A body that is known whole and smaller than ``MIN_SIZE`` is not worth
it. A streamed body (an export, the live tail) is compressed chunk by chunk and each chunk
flushed, so what the server sent is what the client can decode at once: an export never
waits in a buffer, and each event of a live tail reaches the client when it is sent. A
stream that ends without its final chunk (an export that failed midway) ends the compressed
stream the same way: the client sees a truncated transfer, never a complete-looking one. A
stream is compressed whatever its size, which is not known when it starts.

The routes send ``Vary: Accept-Encoding`` themselves, compressed or not (one ``Vary`` per
answer, beside ``Accept``). No answer carries an ETag today (all are ``no-store``); should
one, a compressed body is another representation (RFC 9110 8.8.3), so its strong ETag is
made weak here rather than kept for bytes that differ.

Requests without ``Accept-Encoding`` (curl without ``--compressed``, the loopback bench's
clients) cost one header look-up: the app is called as if this middleware were not there.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

import brotli
import zstandard
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ZSTD_LEVEL = 1
"""Measured on pages of 1,000 CDRs: level 1 compresses 20×, level 3 only 1% smaller for
30% more CPU (docs/benchmarks.md)."""
BROTLI_QUALITY = 1
"""Quality 4 is brotli's first with zstd-1's ratio range at a few ms a page; 5 and up cost
several times more (docs/benchmarks.md)."""
GZIP_LEVEL = 1
"""gzip is the fallback of clients that know nothing else: level 1, as fast as it goes."""
MIN_SIZE = 1400
"""Bodies smaller than one TCP segment (1,448 bytes of payload on a 1,500-byte MTU) take
one packet either way: compressing them saves no round trip, only costs CPU."""
ENCODINGS = ("zstd", "br", "gzip")
"""What is offered, most preferred first."""
_ALIASES = {"x-gzip": "gzip"}  # RFC 9110 8.4.1.3


class Compressor(Protocol):
    def chunk(self, data: bytes) -> bytes:
        """``data`` compressed and flushed: the client can decode all it got so far."""

    def end(self, data: bytes) -> bytes:
        """``data`` compressed, and the end of the compressed stream."""


class _Zstd:
    def __init__(self) -> None:
        self._z = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()

    def chunk(self, data: bytes) -> bytes:
        return self._z.compress(data) + self._z.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def end(self, data: bytes) -> bytes:
        return self._z.compress(data) + self._z.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


class _Brotli:
    def __init__(self) -> None:
        self._b = brotli.Compressor(quality=BROTLI_QUALITY, mode=brotli.MODE_TEXT)

    def chunk(self, data: bytes) -> bytes:
        return bytes(self._b.process(data) + self._b.flush())

    def end(self, data: bytes) -> bytes:
        return bytes(self._b.process(data) + self._b.finish())


class _Gzip:
    def __init__(self) -> None:
        self._g = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: the gzip wrapper

    def chunk(self, data: bytes) -> bytes:
        return self._g.compress(data) + self._g.flush(zlib.Z_SYNC_FLUSH)

    def end(self, data: bytes) -> bytes:
        return self._g.compress(data) + self._g.flush(zlib.Z_FINISH)


STREAMS: dict[str, Callable[[], Compressor]] = {"zstd": _Zstd, "br": _Brotli, "gzip": _Gzip}
"""A streaming compressor per coding."""


def compress_whole(encoding: str, body: bytes) -> bytes:
    """``body`` compressed in one go (a zstd frame then records its size)."""
    if encoding == "zstd":
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(body)
    if encoding == "br":
        return bytes(brotli.compress(body, quality=BROTLI_QUALITY, mode=brotli.MODE_TEXT))
    return _Gzip().end(body)


@lru_cache(maxsize=256)  # a client sends the same header with every request
def chosen_encoding(accept_encoding: str) -> str | None:
    """The coding to answer with, or None for the body as it is (RFC 9110 12.5.3).

    A coding counts with its own quality, else that of ``*``; q=0 refuses it. Among those
    left, the highest quality wins, and zstd, br, gzip in that order between equals.
    ``identity;q=0`` with nothing else acceptable still gets the body as it is: a 406 would
    help nobody.
    """
    qualities: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0  # a malformed quality counts as "not acceptable"
        qualities.setdefault(_ALIASES.get(name, name), q)
    wildcard = qualities.get("*", 0.0)
    best, best_q = None, 0.0
    for encoding in ENCODINGS:
        q = qualities.get(encoding, wildcard)
        if q > best_q:
            best, best_q = encoding, q
    return best


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


class CompressMiddleware:
    """Compresses the answers of compressible routes for clients that accept it."""

    def __init__(self, app: ASGIApp, min_size: int = MIN_SIZE) -> None:
        self.app = app
        self.min_size = min_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            accepted = _header(scope["headers"], b"accept-encoding")
            encoding = chosen_encoding(accepted.decode("latin-1")) if accepted else None
            if encoding is not None:
                await self.app(scope, receive, _Compressing(scope, send, encoding, self.min_size))
                return
        await self.app(scope, receive, send)


class _Compressing:
    """The ``send`` of one response. A body of known length comes in one message right after
    its start: the start waits for it, to carry the compressed length. A stream's start goes
    out at once, as it came: the rate limiter gives the key's database turn back when it
    sees it, and the stream's next read waits for that turn."""

    def __init__(self, scope: Scope, send: Send, encoding: str, min_size: int) -> None:
        self.scope = scope
        self.send = send
        self.encoding = encoding
        self.min_size = min_size
        self.held: Message | None = None
        self.stream: Compressor | None = None
        self.as_is = False

    async def __call__(self, message: Message) -> None:
        if self.as_is:
            await self.send(message)
        elif message["type"] == "http.response.start":
            await self._start(message)
        elif message["type"] != "http.response.body":
            await self.send(message)
        elif self.stream is not None:
            await self._more(message)
        else:
            await self._whole(message)

    async def _start(self, message: Message) -> None:
        headers = message.get("headers", [])
        length = _header(headers, b"content-length")
        if (
            not getattr(self.scope.get("route"), "compressible", False)
            or message["status"] != 200
            or _header(headers, b"content-encoding") is not None
            or (length is not None and int(length) < self.min_size)
        ):
            self.as_is = True
            await self.send(message)
        elif length is not None:
            self.held = message
        else:
            self.stream = STREAMS[self.encoding]()
            await self.send({**message, "headers": self._coded(headers)})

    def _coded(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        coded = [
            (name, _weak(value) if name == b"etag" else value)
            for name, value in headers
            if name != b"content-length"
        ]
        coded.append((b"content-encoding", self.encoding.encode()))
        return coded

    async def _whole(self, message: Message) -> None:
        assert self.held is not None and not message.get("more_body", False)
        compressed = compress_whole(self.encoding, message.get("body", b""))
        headers = self._coded(self.held.get("headers", []))
        headers.append((b"content-length", str(len(compressed)).encode()))
        await self.send({**self.held, "headers": headers})
        await self.send({"type": "http.response.body", "body": compressed})

    async def _more(self, message: Message) -> None:
        assert self.stream is not None
        body: bytes = message.get("body", b"")
        if message.get("more_body", False):
            data = self.stream.chunk(body)
            if data:
                await self.send({"type": "http.response.body", "body": data, "more_body": True})
        else:
            await self.send({"type": "http.response.body", "body": self.stream.end(body)})


def _weak(etag: bytes) -> bytes:
    return etag if etag.startswith(b"W/") else b"W/" + etag
