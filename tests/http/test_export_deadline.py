"""An export streams for at most ATENDE_EXPORT_MAX_SECONDS (issue 21, 2.5), then ends as a
failed one does: without its final chunk, after whole items only, so the client resumes
with ``after=id:`` of the last item it got and gets the rest exactly once.

The app is driven at the ASGI level (where a response without its final chunk is
visible), over the session's real store, by a client that stops reading after the first
chunk for longer than the limit: the deadline passes whatever the machine's speed.
"""

from __future__ import annotations

import logging
import random
from urllib.parse import urlencode

import anyio
import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message

from _export_data import BASE_MS, make_docs, ndjson_items, new_tenant, pages, put
from atende_logs.config import Settings
from atende_logs.export import stream
from atende_logs.http import create_app
from atende_logs.storage import Store

CDRS = "/customers/cdrs/logs"
MAX_SECONDS = 1


async def slow_reader(app: ASGIApp, params: dict[str, str], key: str) -> list[Message]:
    """Every message the app sent to a client that, after the first chunk, stops reading
    for longer than the export may last (as a stalled download does)."""
    sent: list[Message] = []
    finished = anyio.Event()
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and len(sent) == 2:
            await anyio.sleep(MAX_SECONDS + 1)  # the server waits on the client meanwhile

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": CDRS,
        "raw_path": CDRS.encode(),
        "root_path": "",
        "query_string": urlencode(params).encode(),
        "headers": [(b"host", b"testserver"), (b"x-api-key", key.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    finished.set()
    return sent


def test_an_export_past_its_time_ends_incomplete_and_resumes_exactly_once(
    app_settings: Settings,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(stream, "CHUNK_ROWS", 3)  # 10 CDRs in 4 chunks
    tenant = new_tenant(store)
    docs = make_docs("cdrs", [BASE_MS + n for n in range(10)], random.Random(0))
    put(store, tenant, "cdrs", docs)
    settings = app_settings.model_copy(update={"export_max_seconds": MAX_SECONDS})
    app = create_app(settings, store=store)
    with TestClient(app) as client, caplog.at_level(logging.ERROR, logger="atende_logs.http"):
        assert client.portal is not None
        messages = client.portal.call(slow_reader, app, {"format": "ndjson"}, tenant.key)
        received = ndjson_items(b"".join(m.get("body", b"") for m in messages[1:]))
        rest = client.get(
            CDRS,
            params={"format": "ndjson", "after": f"id:{received[-1]['callid']}"},
            headers={"x-api-key": tenant.key},
        )
        everything = pages(client, tenant, "cdrs", {})

    start, *bodies = messages
    assert (start["type"], start["status"]) == ("http.response.start", 200)
    assert all(m["more_body"] for m in bodies)  # never the final chunk: visibly truncated
    assert 0 < len(received) < len(docs)
    assert rest.status_code == 200
    assert received + ndjson_items(rest.content) == everything  # nothing lost, none twice
    assert len(everything) == len(docs)
    [record] = [r for r in caplog.records if "stopped" in r.getMessage()]
    assert record.getMessage().startswith("export of /customers/cdrs/logs stopped after")
    assert record.getMessage().endswith(f"streamed for {MAX_SECONDS} s (ATENDE_EXPORT_MAX_SECONDS)")


def test_an_export_within_its_time_is_whole(app_settings: Settings, store: Store) -> None:
    tenant = new_tenant(store)
    put(store, tenant, "cdrs", make_docs("cdrs", [BASE_MS + n for n in range(5)], random.Random(1)))
    settings = app_settings.model_copy(update={"export_max_seconds": 3600})
    with TestClient(create_app(settings, store=store)) as client:
        response = client.get(CDRS, params={"format": "ndjson"}, headers={"x-api-key": tenant.key})
        assert ndjson_items(response.content) == pages(client, tenant, "cdrs", {})
