"""What each coding and level costs on a page of 1,000 CDRs: CPU per page and ratio.

``python -m bench.compression`` (no database, no server): the page is drawn from the bench's
generator (bench.data, the big customer) and shaped as the server sends it
(``http.responses.page_body``); each level compresses it whole, as the server compresses a
page, and in 64 kB chunks flushed one by one, as it compresses an export. The figures picked
the levels of ``http.compression``. Last, the levels picked compress the same CDRs as a live
tail sends them: one flushed chunk per event, as ``http.compression`` streams them.
"""

from __future__ import annotations

import argparse
import itertools
import time
import zlib
from collections.abc import Callable

import brotli
import orjson
import zstandard

from atende_logs.http.compression import MIN_SIZE, STREAMS
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


if __name__ == "__main__":
    main()
