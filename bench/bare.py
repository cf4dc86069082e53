"""A bare ASGI app under the server's own uvicorn: what answering a body costs with no service.

The small-page target (issue 17) compares the server's own cost of a request, its latency
beyond the floor's database work, with the latency of this app answering the very same
body, under the same uvicorn (its loop and HTTP parser, as ``atende-logs serve`` picks
them) and the same client, in the same run. It serves each file of the directory named
by ``BODIES_ENV`` at ``/<file name>``, read once and kept in memory; ``/healthz`` answers
empty.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.server import Server

BODIES_ENV = "ATENDE_BENCH_BARE_BODIES"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_bodies: dict[str, bytes] = {}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":  # nothing to set up; answered so uvicorn logs it
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    name = scope["path"].lstrip("/")
    body = _bodies.get(name)
    if body is None:
        path = Path(os.environ[BODIES_ENV]) / name
        body = _bodies[name] = path.read_bytes() if name and path.is_file() else b""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def bare_server(
    bodies: Path, log: Path, database_url: str, serve_args: tuple[str, ...]
) -> Iterator[Server]:
    """This app under uvicorn as ``serve`` runs it: as many workers (``--workers`` of
    ``serve_args``, else one per core), uvicorn's own choice of loop and HTTP parser (uvloop
    and httptools where installed), no access log; on a free port."""
    workers = len(os.sched_getaffinity(0))
    if "--workers" in serve_args:
        workers = int(serve_args[serve_args.index("--workers") + 1])
    command = [sys.executable, "-m", "uvicorn", "bench.bare:app", "--no-access-log"]
    root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = {BODIES_ENV: str(bodies), "PYTHONPATH": path}
    with Server(database_url, log, workers=workers, env=env, command=command) as server:
        yield server
