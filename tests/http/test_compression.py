"""Compressed answers (issue 17), on SQLite and PostgreSQL: for each coding, a page of each
list, an export streamed in several chunks and a change-feed page decode to exactly the bytes
of the uncompressed answer; ``Vary`` names Accept-Encoding once; errors, small bodies, health
and metrics go out as they are; ``identity`` and q=0 are respected. The live tail's coding is
tested through a real server in tests/changes/test_tail.py."""

from __future__ import annotations

import asyncio
import random
import zlib
from typing import Any

import brotli
import httpx
import pytest
import zstandard
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Receive, Scope, Send

from _export_data import BASE_MS, PATHS, Tenant, make_docs, new_tenant, put, with_token
from atende_logs.export import stream
from atende_logs.http.compression import (
    ENCODINGS,
    MIN_SIZE,
    STREAMS,
    CompressMiddleware,
    chosen_encoding,
)
from atende_logs.kinds import CDRS, KINDS
from atende_logs.storage import Store

DOCS = 120
"""Per kind: pages of 100 are well above MIN_SIZE, an export of chunks of 25 has five."""


def decoded(encoding: str, data: bytes) -> bytes:
    """``data`` decoded by the reference libraries, not by httpx."""
    if encoding == "zstd":
        out = zstandard.ZstdDecompressor().decompressobj()
        result = out.decompress(data)
        assert out.eof, "the zstd frame did not end"
        return result
    if encoding == "br":
        return bytes(brotli.decompress(data))
    assert encoding == "gzip"
    return zlib.decompress(data, 31)


@pytest.fixture(scope="module")
def tenant(store: Store) -> Tenant:
    tenant = new_tenant(store)
    rng = random.Random(17)
    for kind_name in KINDS:
        times = [BASE_MS + n * 1000 for n in range(DOCS)]
        put(store, tenant, kind_name, make_docs(kind_name, times, rng))
    return tenant


def raw(
    client: TestClient, path: str, params: dict[str, str], headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent, not decoded."""
    with client.stream("GET", path, params=params, headers=headers) as response:
        return response, b"".join(response.iter_raw())


def both(
    client: TestClient, tenant: Tenant, path: str, params: dict[str, str], encoding: str
) -> tuple[httpx.Response, bytes, httpx.Response, bytes]:
    auth = {"x-api-key": tenant.key}
    plain, plain_body = raw(client, path, params, {**auth, "accept-encoding": "identity"})
    coded, coded_body = raw(client, path, params, {**auth, "accept-encoding": encoding})
    return plain, plain_body, coded, coded_body


def check_same(
    plain: httpx.Response, plain_body: bytes, coded: httpx.Response, body: bytes, encoding: str
) -> None:
    assert plain.status_code == coded.status_code == 200
    assert "content-encoding" not in plain.headers
    assert coded.headers["content-encoding"] == encoding
    assert len(body) < len(plain_body) / 3, (len(body), len(plain_body))
    assert decoded(encoding, body) == plain_body
    for response in (plain, coded):
        assert response.headers.get_list("vary") == ["Accept, Accept-Encoding"]


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("kind_name", list(KINDS))
def test_a_page_decodes_to_the_uncompressed_bytes(
    client: TestClient, tenant: Tenant, kind_name: str, encoding: str
) -> None:
    params = with_token(tenant, kind_name, {"size": "100"})
    plain, plain_body, coded, body = both(client, tenant, PATHS[kind_name], params, encoding)
    assert len(plain_body) > MIN_SIZE
    check_same(plain, plain_body, coded, body, encoding)
    assert coded.headers["content-length"] == str(len(body))


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_an_export_streams_compressed_chunk_by_chunk(
    client: TestClient,
    tenant: Tenant,
    encoding: str,
    fmt: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stream, "CHUNK_ROWS", 25)
    params = {"format": fmt}
    plain, plain_body, coded, body = both(client, tenant, CDRS.path, params, encoding)
    check_same(plain, plain_body, coded, body, encoding)
    assert "content-length" not in coded.headers
    assert plain_body.count(b"\n") == DOCS + (fmt == "csv")
    # Each chunk was flushed as it was sent: the first chunk's items decode from a prefix.
    whole = STREAMS[encoding]()
    first = whole.chunk(plain_body[:1000])
    assert decoded_prefix(encoding, first) == plain_body[:1000]


def decoded_prefix(encoding: str, data: bytes) -> bytes:
    """What a client decodes from the start of a stream that has not ended."""
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if encoding == "br":
        return bytes(brotli.Decompressor().process(data))
    return zlib.decompressobj(31).decompress(data)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_change_feed_page_decodes_to_the_uncompressed_bytes(
    client: TestClient, tenant: Tenant, encoding: str
) -> None:
    plain, plain_body, coded, body = both(client, tenant, CDRS.changes_path, {}, encoding)
    check_same(plain, plain_body, coded, body, encoding)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_small_bodies_errors_health_and_metrics_go_out_as_they_are(
    client: TestClient, tenant: Tenant, encoding: str
) -> None:
    auth = {"x-api-key": tenant.key, "accept-encoding": encoding}
    answers = {
        "empty page": (CDRS.path, {"end_at": "2000-01-01"}, auth, 200),
        "empty feed": (CDRS.changes_path, {"since": "2090-01-01"}, auth, 200),
        "bad parameter": (CDRS.path, {"size": "0"}, auth, 400),
        "no key": (CDRS.path, {}, {"accept-encoding": encoding}, 401),
        "healthz": ("/healthz", {}, auth, 200),
        "readyz": ("/readyz", {}, auth, 200),
        "metrics": ("/metrics", {}, auth, 403),
        "openapi": ("/openapi.json", {}, auth, 200),
    }
    for name, (path, params, headers, status) in answers.items():
        response, body = raw(client, path, params, headers)
        assert response.status_code == status, (name, body[:300])
        assert "content-encoding" not in response.headers, name
        if status == 200 and path.startswith("/customers"):
            assert len(body) < MIN_SIZE, name
    # The OpenAPI document is large, and still not compressed: not a search route.
    assert len(raw(client, "/openapi.json", {}, auth)[1]) > MIN_SIZE


@pytest.mark.parametrize(
    "header",
    ["identity", "zstd;q=0, br;q=0, gzip;q=0", "*;q=0", "deflate", "compress", "", "  "],
)
def test_identity_and_refused_codings_get_the_body_as_it_is(
    client: TestClient, tenant: Tenant, header: str
) -> None:
    headers = {"x-api-key": tenant.key, "accept-encoding": header}
    response, body = raw(client, CDRS.path, {"size": "100"}, headers)
    assert response.status_code == 200 and len(body) > MIN_SIZE
    assert "content-encoding" not in response.headers
    assert body.startswith(b'{"total":')


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br, zstd", "zstd"),  # httpx's: zstd preferred whatever the order
        ("gzip, deflate, br", "br"),  # curl --compressed without zstd
        ("gzip, deflate", "gzip"),
        ("x-gzip", "gzip"),
        ("*", "zstd"),
        ("*;q=0.5, zstd;q=0", "br"),
        ("gzip;q=1, zstd;q=0.5", "gzip"),  # a client's own preference wins over ours
        ("ZSTD;Q=0.9", "zstd"),
        ("zstd;q=oops, gzip", "gzip"),  # a malformed quality counts as refused
        ("zstd;q=0", None),
        ("identity", None),
    ],
)
def test_chosen_encoding(header: str, expected: str | None) -> None:
    assert chosen_encoding(header) == expected


@given(st.lists(st.tuples(st.sampled_from([*ENCODINGS, "*", "identity", "deflate"]),
                          st.sampled_from([None, 0.0, 0.1, 0.5, 1.0])), max_size=6))  # fmt: skip
def test_the_chosen_coding_is_one_the_client_accepts_at_its_best_quality(
    offers: list[tuple[str, float | None]],
) -> None:
    header = ", ".join(name if q is None else f"{name};q={q}" for name, q in offers)
    quality: dict[str, float] = {}
    for name, q in offers:
        quality.setdefault(name, 1.0 if q is None else q)
    ours = {e: quality.get(e, quality.get("*", 0.0)) for e in ENCODINGS}
    chosen = chosen_encoding(header)
    if max(ours.values()) == 0:
        assert chosen is None
    else:
        assert chosen is not None and ours[chosen] == max(ours.values())
        # Between equals, the earlier of zstd, br, gzip.
        assert chosen == next(e for e in ENCODINGS if ours[e] == ours[chosen])


def _app(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> Any:
    """An ASGI app answering ``chunks`` from a route that says it is compressible, and
    ending without its final chunk when the last of ``chunks`` is ``b"CUT"``."""

    class Route:
        compressible = True

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = Route()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for chunk in chunks:
            if chunk == b"CUT":
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


def _sent(app: Any, encoding: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.disconnect"}

    scope = {"type": "http", "headers": [(b"accept-encoding", encoding.encode())]}
    asyncio.run(CompressMiddleware(app)(scope, receive, send))
    return sent


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_strong_etag_is_made_weak_and_a_cut_stream_stays_cut(encoding: str) -> None:
    body = b"x" * 5000
    sent = _sent(_app([(b"etag", b'"v1"')], [body, body]), encoding)
    start = dict(sent[0]["headers"])
    assert start[b"etag"] == b'W/"v1"' and start[b"content-encoding"] == encoding.encode()
    assert not sent[-1].get("more_body", False)
    assert decoded(encoding, b"".join(m["body"] for m in sent[1:])) == body * 2
    # An answer that ends without its final chunk (an export failing midway) does so
    # compressed too: no last chunk, no end of the compressed stream.
    cut = _sent(_app([], [body, b"CUT"]), encoding)
    assert all(m.get("more_body") for m in cut[1:])
    assert decoded_prefix(encoding, b"".join(m["body"] for m in cut[1:])) == body


def test_each_chunk_of_a_stream_is_sent_at_once() -> None:
    """The live tail's events are chunks: each is flushed, none waits for the next."""
    events = [b"id: %d\nevent: change\ndata: {}\n\n" % n for n in range(50)]
    for encoding in ENCODINGS:
        sent = _sent(_app([], events), encoding)
        decoder = _Prefix(encoding)
        for n, message in enumerate(sent[1:-1]):
            assert decoder.feed(message["body"]) == events[n], (encoding, n)


class _Prefix:
    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.z: Any = {
            "zstd": lambda: zstandard.ZstdDecompressor().decompressobj(),
            "br": brotli.Decompressor,
            "gzip": lambda: zlib.decompressobj(31),
        }[encoding]()

    def feed(self, data: bytes) -> bytes:
        return bytes(self.z.process(data) if self.encoding == "br" else self.z.decompress(data))
