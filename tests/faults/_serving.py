"""Clients that keep count, and the database read behind the API, for real servers to break.

The servers are ``bench.server.Server``: a process group of their own, so a kill -9 reaches
the supervisor and every worker at once, and nothing else on the machine (other test
servers run beside these). ``Batches`` is a producer's view of what it sent: which batches
the server acknowledged. ``stored_ids`` reads the table directly, for the moments the
server is dead or the answer must not depend on it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import orjson
import psycopg

from atende_logs.config import Settings
from atende_logs.storage import open_store

BASE_MS = 1_709_640_000_000
"""2024-03-05 12:00 UTC: every document of these tests lies in the hour after it."""


def wait_for(what: str, condition: Callable[[], object], timeout_s: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after a generous deadline (a
    loaded two-core machine is slow, never stuck: waiting for the event, not a fixed time)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout_s:.0f} s for {what}"
        time.sleep(0.05)


@dataclass(frozen=True)
class Tenant:
    """A fresh customer with a key to read and an ingest key to write."""

    customer_id: int
    api_key: str
    ingest_key: str


def fresh_tenant(database_url: str) -> Tenant:
    store = open_store(Settings(database_url=database_url))
    try:
        customer = store.create_customer(f"faults {uuid.uuid4().hex[:8]}")
        _, api_key = store.create_api_key(customer.id)
        _, ingest_key = store.create_ingest_key(f"faults {uuid.uuid4().hex[:8]}")
    finally:
        store.close()
    return Tenant(customer.id, api_key, ingest_key)


def attendant_log(doc_id: str, time_ms: int) -> dict[str, Any]:
    return {"id": doc_id, "timestamp": time_ms, "description_name": "Pausa"}


def batch_body(number: int, size: int) -> bytes:
    """Batch ``number``'s NDJSON: ``size`` attendant logs with ids of its own."""
    docs = [attendant_log(f"b{number:06d}-{n}", BASE_MS + number * 10 + n) for n in range(size)]
    return b"".join(orjson.dumps(doc) + b"\n" for doc in docs)


def batch_of(doc_id: str) -> int:
    return int(doc_id[1:].split("-")[0])


@dataclass
class Batches:
    """What a producer knows: the batches the server acknowledged, and the one in flight."""

    size: int
    acknowledged: set[int] = field(default_factory=set)
    in_flight: int | None = None
    retries: int = 0
    unexpected: list[str] = field(default_factory=list)
    """Answers other than 200: a producer has no reason to retry those."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, stored: Counter[str]) -> None:
        """Every record at most once; every batch whole or absent; acknowledged ones whole."""
        assert max(stored.values(), default=1) == 1, stored.most_common(3)
        per_batch = Counter(batch_of(doc_id) for doc_id in stored)
        partial = {number: n for number, n in per_batch.items() if n != self.size}
        assert not partial, f"batches stored in part: {partial}"
        with self.lock:
            missing = self.acknowledged - set(per_batch)
        assert not missing, f"acknowledged batches missing: {sorted(missing)}"


def stored_ids(database_url: str, customer_id: int) -> Counter[str]:
    """The attendant-log ids of ``customer_id`` in the table itself, with their counts."""
    sql = "SELECT doc_id FROM attendant_logs WHERE customer_id = {}"
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            rows = connection.execute(sql.format("?"), (customer_id,)).fetchall()
    else:
        with psycopg.connect(database_url, connect_timeout=5) as connection:
            rows = connection.execute(sql.format("%s"), (customer_id,)).fetchall()
    return Counter(str(doc_id) for (doc_id,) in rows)


def listed_ids(url: str, key: str) -> Counter[str]:
    """The attendant-log ids the API lists, paged by hand (the README's loop)."""
    params = {"start_at": str(BASE_MS), "end_at": str(BASE_MS + 3_600_000), "size": "1000"}
    found: Counter[str] = Counter()
    with httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30) as client:
        while True:
            response = client.get("/customers/attendants/logs", params=params)
            page = orjson.loads(response.raise_for_status().content)
            if not page["items"]:
                return found
            found.update(str(item["id"]) for item in page["items"])
            params["after"] = str(page["after"])


@dataclass(frozen=True)
class Outcome:
    """One request of a ``Load``: when it ran and what came back."""

    kind: str
    """``query`` or ``ingest``."""
    started: float
    ended: float
    status: int | None
    """None: no answer (a connection error, or the client's timeout ran out)."""
    retry_after: str | None = None
    code: str | None = None


class Load:
    """Clients querying and ingesting in threads, every answer recorded, until the block ends.

    Ingest batches are numbered from 0, each sent once: a failed one is not retried, so
    ``batches`` tells which were acknowledged and a check finds any stored in part.
    """

    def __init__(
        self,
        url: str,
        customer_id: int,
        api_key: str,
        ingest_key: str,
        queries: int = 2,
        ingesters: int = 1,
        timeout_s: float = 10.0,
    ) -> None:
        self.outcomes: list[Outcome] = []
        self.batches = Batches(size=3)
        self._url, self._timeout_s = url, timeout_s
        self._customer_id, self._api_key, self._ingest_key = customer_id, api_key, ingest_key
        self._next_batch = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._query) for _ in range(queries)]
        self._threads += [threading.Thread(target=self._ingest) for _ in range(ingesters)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def answers(self, kind: str, since: float) -> list[Outcome]:
        """The requests of ``kind`` started at or after ``since``, answered or not."""
        return [o for o in self.outcomes if o.kind == kind and o.started >= since]

    def served(self, since: float = 0.0) -> bool:
        """Whether a query and an ingest started after ``since`` have each had a 200."""
        return all(
            any(o.status == 200 for o in self.answers(kind, since)) for kind in ("query", "ingest")
        )

    def _query(self) -> None:
        params = {"start_at": str(BASE_MS), "end_at": str(BASE_MS + 3_600_000), "size": "50"}
        with self._client({"x-api-key": self._api_key}) as client:
            while not self._stop.is_set():
                self._record(
                    "query", partial(client.get, "/customers/attendants/logs", params=params)
                )

    def _ingest(self) -> None:
        path = f"/ingest/customers/{self._customer_id}/attendant-logs"
        headers = {"x-ingest-key": self._ingest_key, "content-type": "application/x-ndjson"}
        with self._client(headers) as client:
            while not self._stop.is_set():
                with self.batches.lock:
                    number, self._next_batch = self._next_batch, self._next_batch + 1
                body = batch_body(number, self.batches.size)
                if self._record("ingest", partial(client.post, path, content=body)) == 200:
                    with self.batches.lock:
                        self.batches.acknowledged.add(number)

    def _client(self, headers: dict[str, str]) -> httpx.Client:
        return httpx.Client(base_url=self._url, headers=headers, timeout=self._timeout_s)

    def _record(self, kind: str, send: Callable[[], httpx.Response]) -> int | None:
        started = time.monotonic()
        try:
            response = send()
        except httpx.TransportError:
            self.outcomes.append(Outcome(kind, started, time.monotonic(), None))
            time.sleep(0.05)  # nothing answers: do not spin
            return None
        code = None
        if response.status_code != 200:
            code = orjson.loads(response.content).get("error", {}).get("code")
        outcome = Outcome(
            kind,
            started,
            time.monotonic(),
            response.status_code,
            response.headers.get("retry-after"),
            code,
        )
        self.outcomes.append(outcome)
        if response.status_code == 503:
            time.sleep(0.05)  # refused at once while the database is gone: do not spin
        return response.status_code
