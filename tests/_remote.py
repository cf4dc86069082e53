"""A real server to pull from, the data it holds, and a proxy that fails on a schedule.

``Server`` (``bench/server.py``, the one helper that starts real servers) runs ``atende-logs
serve`` as a subprocess on a free port of 127.0.0.1, one worker unless told otherwise, so the
client meets real sockets, real uvicorn and a real process that can be killed -9.
``FaultProxy`` forwards GETs to it and, for the request numbers it is told, answers 429 or
5xx, slowly or at once, or drops the connection instead: the failures a client must
survive, produced on the wire rather than mocked. The reference every pull is compared
with is the listing paged by hand, the README's loop: plain httpx, ``size=1000``, each
``after`` passed back until an empty page.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx
import orjson

from atende_logs import demo_documents
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import KINDS
from atende_logs.query.times import zone
from atende_logs.storage import Store
from bench.server import Server


@dataclass(frozen=True)
class Fault:
    """What the proxy does instead of forwarding a request."""

    status: int = 503
    retry_after: str | None = None
    body: bytes = b'{"error": {"status": 503, "code": "overloaded", "message": "tente depois"}}'
    drop: bool = False
    """Close the connection without answering."""
    delay: float = 0.0
    """Seconds to wait before answering: a slow server, for client timeouts."""


DROP = Fault(drop=True)


class FaultProxy:
    """Forwards GETs to ``upstream``; request number n (from 1) gets ``faults[n]`` instead
    when there is one. ``seen`` lists every request's path and query, in order."""

    def __init__(self, upstream: str, faults: dict[int, Fault] | None = None) -> None:
        self.upstream = upstream
        self.faults = dict(faults or {})
        self.seen: list[str] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=upstream, timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A short poll interval: shutdown() waits for the loop's next turn.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._http.close()

    def _next(self, path: str) -> Fault | None:
        with self._lock:
            self.seen.append(path)
            return self.faults.get(len(self.seen))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fault = proxy._next(self.path)
                if fault is not None:
                    time.sleep(fault.delay)
                    if fault.drop:
                        self.close_connection = True  # nothing written: the client sees a drop
                    else:
                        self._answer(fault.status, fault.body, fault.retry_after)
                    return
                forwarded = ("x-api-key", "x-dialer-token")
                headers = {name: self.headers[name] for name in forwarded if name in self.headers}
                response = proxy._http.get(self.path, headers=headers)
                self._answer(response.status_code, response.content, None)

            def _answer(self, status: int, body: bytes, retry_after: str | None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    if retry_after is not None:
                        self.send_header("retry-after", retry_after)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up waiting (a timeout test): nobody to answer

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the test asserts on proxy.seen instead

        return Handler


Doc = dict[str, Any]
SAO_PAULO = zone("America/Sao_Paulo")
PLAN = demo_documents.DemoPlan(
    start=datetime(2024, 3, 4, tzinfo=SAO_PAULO),
    days=3,
    attendants=4,
    attendant_logs=300,
    cdrs=240,
    cards=150,
)

# Documents the demo never makes: text with the CSV's own delimiters, quotes and a line
# break; values of another type than the spec's example has; fields no column holds; an
# offset-less time and an epoch-millisecond one.
ODD: dict[str, list[Doc]] = {
    "attendant-logs": [
        {
            "id": "odd-1",
            "timestamp": "2024-03-05T10:00:00",
            "description_name": 'Almoço; "especial"\nsegunda linha, fim',
            "duration": "30",
            "attendant": {"name": "Zé", "email": "ze@example.com", "ramal_extra": 7},
            "machine_attributes": {"loggedInAt": "ontem"},
            "allow_save": 1,
            "extension_number": 19,
            "novo": [1, "NÃO"],
        }
    ],
    "cdrs": [
        {
            "callid": "odd-cdr",
            "ori_start_time": 1_709_650_000_000,
            "uraduration": 12.0,
            "has_audio": "sim",
            "redirects": [{"user_name": "Conceição", "charge": "0.0"}],
        }
    ],
    "cards": [{"number": "5563984866338", "timestamp": "2024-03-05T15:00:00.5-03:00"}],
}


@dataclass(frozen=True)
class Remote:
    """A running server and a customer's credentials on it."""

    server: Server
    key: str
    token: str
    backend: str

    @property
    def url(self) -> str:
        return self.server.url

    def params(self, kind: str) -> dict[str, str]:
        """The parameters every query of ``kind`` needs (the token, for cards)."""
        return {"token": self.token} if KINDS[kind].scope.by_dialer else {}


@dataclass(frozen=True)
class Loaded:
    key: str
    token: str
    database_url: str


def load(store: Store, database_url: str) -> Loaded:
    """A fresh customer with the demo data set and the odd documents."""
    customer = store.create_customer(f"pull {uuid.uuid4().hex[:8]}")
    dialer, token = store.create_dialer(customer.id, "Discador")
    _, key = store.create_api_key(customer.id)
    generated = {
        "attendant-logs": demo_documents.attendant_logs(PLAN),
        "cdrs": demo_documents.cdrs(PLAN),
        "cards": demo_documents.cards(PLAN),
    }
    for name, docs in generated.items():
        kind = KINDS[name]
        result = ingest(
            store,
            customer.id,
            kind,
            as_records([*docs, *ODD[name]]),
            zone=SAO_PAULO,
            dialer_id=dialer.id if kind.scope.by_dialer else None,
        )
        assert result.rejected == 0, result.rejections
    return Loaded(key, token, database_url)


def paged_by_hand(remote: Remote, kind: str) -> list[Doc]:
    """Every item of ``kind``, by the README's loop."""
    params: dict[str, str] = {**remote.params(kind), "size": "1000"}
    found: list[Doc] = []
    with httpx.Client(base_url=remote.url, headers={"x-api-key": remote.key}) as client:
        while True:
            response = client.get(KINDS[kind].path, params=params)
            page = orjson.loads(response.raise_for_status().content)
            if not page["items"]:
                return found
            found += page["items"]
            params["after"] = str(page["after"])


def as_ndjson(items: list[Doc]) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)
