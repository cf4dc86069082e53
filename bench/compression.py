"""What each coding and level costs on a page of 1,000 CDRs: CPU per page and ratio.

``python -m bench.compression`` (no database, no server): the page is drawn from the bench's
generator (bench.data, the big customer) and shaped as the server sends it
(``http.responses.page_body``); each level compresses it whole, as the server compresses a
page, and in 64 kB chunks flushed one by one, as it compresses an export. The figures picked
the levels of ``http.compression``. Last, the levels picked compress the same CDRs as a live
tail sends them: one flushed chunk per event, as ``http.compression`` streams them; and what
the middleware adds to a request that does not ask for compression (a bare ASGI app answering
a fixed body, called with and without it: the loopback figures' clients ask for none).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
import zlib
from collections.abc import Callable

import brotli
import orjson
import zstandard

from atende_logs.http.compression import MIN_SIZE, STREAMS, CompressMiddleware
from atende_logs.http.responses import page_body
from atende_logs.models import Page
from bench.common import console
from bench.data import _documents, recipes

Codec = Callable[[bytes], bytes]


def codecs() -> dict[str, Codec]:
    found: dict[str, Codec] = {}
    for level in (1, 2, 3, 6):
        found[f"zstd {level}"] = zstandard.ZstdCompressor(level=level).compress
    for quality in (1, 2, 3, 4, 5):
        found[f"br {quality}"] = lambda b, q=quality: brotli.compress(  # type: ignore[misc]
            b, quality=q, mode=brotli.MODE_TEXT
        )
    for level in (1, 6):
        found[f"gzip {level}"] = lambda b, lv=level: zlib.compress(b, lv, wbits=31)  # type: ignore[misc]
    return found


def sample_docs(items: int = 1000) -> list[bytes]:
    docs = itertools.islice(_documents(recipes(1_000_000)[0], "cdrs"), items)
    return [orjson.dumps(doc) for doc in docs]


def events(docs: list[bytes], encoding: str) -> tuple[int, int, float]:
    """Bytes in, bytes out and CPU ms of a stream of one flushed chunk per document."""
    chunks = [b"id: x\nevent: change\ndata: %b\n\n" % doc for doc in docs]
    stream = STREAMS[encoding]()
    began = time.process_time()
    out = sum(len(stream.chunk(chunk)) for chunk in chunks) + len(stream.end(b""))
    spent = (time.process_time() - began) * 1000
    return sum(map(len, chunks)), out, spent


def cpu_ms(codec: Codec, body: bytes, repeat: int) -> float:
    codec(body)  # warm-up
    began = time.process_time()
    for _ in range(repeat):
        codec(body)
    return (time.process_time() - began) * 1000 / repeat


def middleware_us(calls: int = 50_000) -> tuple[float, float]:
    """µs per request of a bare app, without and with the middleware, no Accept-Encoding."""
    body = b"x" * 2000

    async def app(scope: object, receive: object, send: Callable[..., object]) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[misc]
        await send({"type": "http.response.body", "body": body})  # type: ignore[misc]

    headers = [
        (b"host", b"x"),
        (b"x-api-key", b"k" * 40),
        (b"user-agent", b"wrk"),
        (b"accept", b"*/*"),
    ]
    scope = {"type": "http", "headers": headers}

    async def send(message: object) -> None:
        pass

    async def run(target: object) -> float:
        began = time.perf_counter()
        for _ in range(calls):
            await target(scope, None, send)  # type: ignore[operator]
        return (time.perf_counter() - began) * 1e6 / calls

    wrapped = CompressMiddleware(app)  # type: ignore[arg-type]
    bare = min(asyncio.run(run(app)) for _ in range(5))
    return bare, min(asyncio.run(run(wrapped)) for _ in range(5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    docs = sample_docs()
    page = page_body(Page(total=55_000, after=1_727_000_000_000, items=docs))
    small = page[:MIN_SIZE]
    console.print(f"page of 1,000 CDRs: {len(page):,} bytes; small body: {len(small)} bytes")
    console.print(f"{'coding':<8} {'ratio':>6} {'ms/page':>8} {'MB/s':>6} {'small: bytes, µs':>18}")
    for name, codec in codecs().items():
        size = len(codec(page))
        ms = cpu_ms(codec, page, args.repeat)
        small_us = cpu_ms(codec, small, args.repeat * 50) * 1000
        console.print(
            f"{name:<8} {len(page) / size:>6.1f} {ms:>8.2f} {len(page) / ms / 1000:>6.0f} "
            f"{len(codec(small)):>8} {small_us:>8.0f}"
        )
    console.print("as a live tail (1,000 events, each chunk flushed), at the levels picked:")
    for encoding in STREAMS:
        raw, out, spent = events(docs, encoding)
        console.print(f"{encoding:<8} {raw / out:>6.1f} {spent:>8.2f} ms for 1,000 events")
    bare, wrapped = middleware_us()
    console.print(
        f"no Accept-Encoding: a bare app {bare:.2f} µs a request, with the middleware "
        f"{wrapped:.2f} µs (+{wrapped - bare:.2f} µs)"
    )


if __name__ == "__main__":
    main()
