"""Exports from a real server (``atende-logs serve``, a subprocess on a free port), read
with httpx the way a client does: a large export streams with the server's memory flat, a
dropped connection resumes without loss or repetition, and a database failure midway is a
transfer the client sees as truncated. Each as it is and compressed (issue 17): a compressed
stream is cut the same way, and resumes the same way.

The server runs on a temporary SQLite file: what is measured here (memory, framing) is the
HTTP layer's; both databases' export reads are tested in-process.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC

import httpx
import orjson
import pytest

from _export_data import BASE_MS, example, iso
from atende_logs.config import Settings
from atende_logs.http.compression import ENCODINGS
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.readers import Record
from atende_logs.kinds import CDRS
from atende_logs.storage import open_store
from atende_logs.storage.migrate import upgrade
from bench.server import Server, rss_mb, tree

CODINGS = ["identity", *ENCODINGS]

CDR_COUNT = 30_000
"""About 80 MB of NDJSON: several times what a server that buffered would have to grow."""
RSS_GROWTH_LIMIT_MB = 32
"""Measured: 16 MB with chunks of 2,000 CDRs (5 MB each)."""

# A server whose database fails on every third chunk read, the third of each export: the first
# two chunks (4,000 CDRs) are sent, then the failure comes after the first byte.
FAILING_SERVER = """
import argparse
import uvicorn
from atende_logs.config import Settings
from atende_logs.errors import QueryTimeoutError
from atende_logs.http import create_app
from atende_logs.storage import open_store

class FailingStore:
    def __init__(self, store):
        self._store, self.scans = store, 0
    def __getattr__(self, name):
        return getattr(self._store, name)
    def scan(self, query, limit):
        self.scans += 1
        if self.scans % 3 == 0:  # each export of the module's tests, one after another
            raise QueryTimeoutError("a consulta excedeu o tempo limite")
        return self._store.scan(query, limit)

parser = argparse.ArgumentParser()
parser.add_argument("--host")
parser.add_argument("--port", type=int)
arguments = parser.parse_args()
settings = Settings()  # ATENDE_DATABASE_URL, from the environment
app = create_app(settings, store=FailingStore(open_store(settings)))
uvicorn.run(app, host=arguments.host, port=arguments.port, log_level="warning")
"""


@dataclass(frozen=True)
class Loaded:
    database_url: str
    key: str
    callids: list[str]
    """In listing order."""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """A SQLite file holding CDR_COUNT CDRs of one customer, with pairs sharing a millisecond."""
    url = f"sqlite:///{tmp_path_factory.mktemp('server') / 'export.db'}"
    upgrade(url)
    store = open_store(Settings(database_url=url))
    try:
        customer = store.create_customer("export server")
        _, key = store.create_api_key(customer.id)
        base = orjson.dumps(example("cdrs"))
        records = []
        for n in range(CDR_COUNT):
            doc = orjson.loads(base)
            doc["callid"] = f"{n:06d}"
            doc["ori_start_time"] = iso(BASE_MS + n // 2)
            doc["number_name"] = "Almoço NÃO"
            records.append(Record(n + 1, doc, None))
        result = ingest(store, customer.id, CDRS, records, zone=UTC, batch_size=10_000)
        assert result.stored == CDR_COUNT
    finally:
        store.close()
    return Loaded(url, key, [f"{n:06d}" for n in range(CDR_COUNT)])


@pytest.fixture(scope="module")
def server(loaded: Loaded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    with Server(loaded.database_url, log) as server:
        yield server


@pytest.fixture(scope="module")
def failing_server(loaded: Loaded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("logs") / "failing.log"
    command = [sys.executable, "-c", FAILING_SERVER]
    with Server(loaded.database_url, log, workers=None, command=command) as server:
        yield server


def _client(server: Server, loaded: Loaded, coding: str) -> httpx.Client:
    headers = {"x-api-key": loaded.key, "accept-encoding": coding}
    return httpx.Client(base_url=server.url, headers=headers)


@pytest.mark.parametrize("coding", ["identity", "zstd"])
def test_a_large_export_streams_with_flat_server_memory(
    server: Server, loaded: Loaded, coding: str
) -> None:
    params = {"format": "ndjson"}
    with _client(server, loaded, coding) as client:
        client.get("/customers/cdrs/logs", params={**params, "end_at": str(BASE_MS + 5000)})
        baseline = rss_mb(tree(server.pid))
        peak, stop = [baseline], threading.Event()

        def sample() -> None:
            while not stop.wait(0.02):
                peak.append(rss_mb(tree(server.pid)))

        sampler = threading.Thread(target=sample)
        sampler.start()
        pieces, size, lines = 0, 0, 0
        try:
            with client.stream("GET", "/customers/cdrs/logs", params=params, timeout=120) as r:
                assert r.status_code == 200
                assert r.headers["transfer-encoding"] == "chunked"
                assert "content-length" not in r.headers
                assert r.headers.get("content-encoding", "identity") == coding
                for piece in r.iter_bytes():
                    pieces += 1
                    size += len(piece)
                    lines += piece.count(b"\n")
        finally:
            stop.set()
            sampler.join()
    assert lines == CDR_COUNT
    assert pieces > 10
    growth = max(peak) - baseline
    body_mb = size / 1e6
    assert body_mb > 2 * RSS_GROWTH_LIMIT_MB, body_mb
    assert growth < RSS_GROWTH_LIMIT_MB, (growth, body_mb)


@pytest.mark.parametrize("coding", CODINGS)
def test_a_dropped_export_resumes_after_the_last_item_received(
    server: Server, loaded: Loaded, coding: str
) -> None:
    """The client hangs up mid-way (the server sees a disconnect), then resumes."""
    received: list[str] = []
    with _client(server, loaded, coding) as client:
        params = {"format": "ndjson"}
        with client.stream("GET", "/customers/cdrs/logs", params=params, timeout=60) as r:
            for line in r.iter_lines():
                received.append(orjson.loads(line)["callid"])
                if len(received) == 12_345:
                    break
        params["after"] = f"id:{received[-1]}"
        with client.stream("GET", "/customers/cdrs/logs", params=params, timeout=60) as r:
            received += [orjson.loads(line)["callid"] for line in r.iter_lines()]
    assert received == loaded.callids


@pytest.mark.parametrize("coding", CODINGS)
def test_a_failure_midway_is_a_truncated_transfer(
    failing_server: Server, server: Server, loaded: Loaded, coding: str
) -> None:
    """What a client sees when the database fails mid-export, and how it carries on."""
    received: list[str] = []
    with _client(failing_server, loaded, coding) as c:
        params = {"format": "ndjson"}
        with pytest.raises(httpx.RemoteProtocolError):
            with c.stream("GET", "/customers/cdrs/logs", params=params, timeout=60) as r:
                assert r.status_code == 200
                assert r.headers.get("content-encoding", "identity") == coding
                # Every line iter_lines hands out is whole: the cut-off one never arrives.
                for line in r.iter_lines():
                    received.append(orjson.loads(line)["callid"])
    if coding == "br":
        # httpx's br decoder (brotli 1.2) hands out a large chunk's last output only when
        # more input comes: a cut stream loses some items already sent, whole ones, which
        # the resume below gets. Nothing is lost or repeated either way.
        assert 3000 < len(received) <= 4000
        assert received == loaded.callids[: len(received)]
    else:
        assert received == loaded.callids[:4000]
    with _client(server, loaded, coding) as client:
        params["after"] = f"id:{received[-1]}"
        with client.stream("GET", "/customers/cdrs/logs", params=params, timeout=60) as r:
            received += [orjson.loads(line)["callid"] for line in r.iter_lines()]
    assert received == loaded.callids


def test_a_csv_export_from_a_real_server(server: Server, loaded: Loaded) -> None:
    params = {"format": "csv", "delimiter": ";", "bom": "true", "end_at": str(BASE_MS + 99)}
    with httpx.Client(base_url=server.url, headers={"x-api-key": loaded.key}) as client:
        response = client.get("/customers/cdrs/logs", params=params)
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeffcallid;my_status_name;")
    assert text.count("\r\n") == 201 and "Almoço NÃO" in text
    assert response.headers["content-disposition"] == 'attachment; filename="cdrs.csv"'
