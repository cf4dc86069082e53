"""Liveness and readiness: /healthz never touches the database, /readyz says whether it
answers and is migrated (behind or ahead of the code: test_readyz_migrations.py), and
neither hangs when the database does.

The database failures are real ones, made on the wire: the server reaches PostgreSQL through
a TCP relay on 127.0.0.1 that the test cuts (connections refused) or freezes (bytes stop
flowing, as with a host gone silent).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest
from fastapi.testclient import TestClient

from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.routes.health import DATABASE_TTL_S, TOO_SLOW, CachedCheck, Problem
from atende_logs.storage import open_store


class Relay:
    """Forwards TCP connections to ``upstream``; ``freeze`` stops every byte, ``cut``
    closes everything and refuses new connections."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # accept() polls: closing wakes no blocked accept
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._frozen = threading.Event()
        self._closed = threading.Event()
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the poll's timeout, or the listener closed by cut()
                if self._closed.is_set():
                    return
                continue
            try:
                server = socket.create_connection(self._upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._closed.is_set():
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
                pump = threading.Thread(target=self._pump, args=(client, server), daemon=True)
                self._threads.append(pump)
            pump.start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        try:
            while not self._closed.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.05)
                for source in [] if self._frozen.is_set() else ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    peer[source].sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket cut() closed
            return

    def freeze(self) -> None:
        self._frozen.set()

    def cut(self) -> None:
        with self._lock:
            self._closed.set()
            self._listener.close()
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)


def _through(relay: Relay, url: str) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{relay.port}"))


@pytest.fixture
def relayed(postgres_url: str) -> Iterator[tuple[Relay, TestClient]]:
    """An app whose every connection to PostgreSQL goes through a relay, with a statement
    timeout of one second."""
    parts = urlsplit(postgres_url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    settings = Settings(database_url=_through(relay, postgres_url), statement_timeout_ms=1000)
    store = open_store(settings)
    try:
        with TestClient(create_app(settings, store=store)) as client:
            yield relay, client
    finally:
        relay.cut()  # frees any check still waiting on a frozen connection
        store.close()


def _assert_unavailable(response_status: int, body: dict[str, object], retry_after: str | None):
    assert response_status == 503
    error = body["error"]
    assert isinstance(error, dict)
    assert error["status"] == 503 and error["code"] == "database_unavailable"
    assert retry_after is not None and int(retry_after) > 0


def test_healthz_answers_without_a_key(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ok_on_a_migrated_database(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "migrations": "current"}


@pytest.mark.postgres
def test_readyz_fails_when_the_database_refuses_connections(relayed) -> None:
    relay, client = relayed
    assert client.get("/readyz").status_code == 200

    relay.cut()
    time.sleep(DATABASE_TTL_S)  # past the cached answer
    ready = client.get("/readyz")

    _assert_unavailable(ready.status_code, ready.json(), ready.headers.get("retry-after"))
    assert client.get("/healthz").status_code == 200  # alive: it touches no database


@pytest.mark.postgres
def test_readyz_answers_when_the_database_stops_answering(relayed) -> None:
    relay, client = relayed
    assert client.get("/readyz").status_code == 200

    relay.freeze()  # the connections stay open; nothing comes back, ever
    time.sleep(DATABASE_TTL_S)
    first = client.get("/readyz")  # given up at the statement timeout
    time.sleep(DATABASE_TTL_S)
    second = client.get("/readyz")  # the first check is still stuck: no second thread

    for ready in (first, second):
        _assert_unavailable(ready.status_code, ready.json(), ready.headers.get("retry-after"))
        assert ready.json()["error"]["message"] == TOO_SLOW.message


class Gate:
    """A blocking check that counts its runs and waits until opened."""

    def __init__(self, answer: Problem | None = None) -> None:
        self.runs = 0
        self.answer = answer
        self.opened = threading.Event()

    def __call__(self) -> Problem | None:
        self.runs += 1
        self.opened.wait(timeout=30)
        return self.answer


def test_concurrent_callers_share_one_check() -> None:
    gate = Gate(Problem("x", "y"))
    check = CachedCheck(gate, ttl_s=3600, timeout_s=30)

    async def main() -> list[Problem | None]:
        answers: list[Problem | None] = []

        async def ask() -> None:
            answers.append(await check())

        async with anyio.create_task_group() as tasks:
            for _ in range(20):
                tasks.start_soon(ask)
            await anyio.sleep(0.1)
            gate.opened.set()
        answers.append(await check())  # cached: no new run
        return answers

    answers = anyio.run(main)

    assert gate.runs == 1
    assert answers == [Problem("x", "y")] * 21


def test_a_stuck_check_is_given_up_and_not_run_again_until_it_returns() -> None:
    gate = Gate()
    check = CachedCheck(gate, ttl_s=0, timeout_s=0.2)

    async def main() -> list[Problem | None]:
        stuck = [await check(), await check()]
        gate.opened.set()
        await anyio.sleep(0.2)  # the abandoned thread returns
        return [*stuck, await check()]

    answers = anyio.run(main)

    assert answers == [TOO_SLOW, TOO_SLOW, None]
    assert gate.runs == 2  # the first and the third: the second found the first still stuck


def test_a_fresh_answer_is_asked_again_after_its_ttl() -> None:
    gate = Gate()
    gate.opened.set()
    check = CachedCheck(gate, ttl_s=0, timeout_s=5)

    async def main() -> None:
        for _ in range(3):
            assert await check() is None

    anyio.run(main)

    assert gate.runs == 3
