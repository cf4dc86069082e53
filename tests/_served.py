"""``atende-logs serve`` as a subprocess with the options and environment a test chooses:
real sockets, real uvicorn, the command-line options passed through as a deployment would
pass them."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from _remote import cli, free_port


@contextmanager
def serving(
    database_url: str, log: Path, *options: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """The server's base URL once it answers ``/healthz``; stopped on leaving."""
    port = free_port()
    environment = {**os.environ, "ATENDE_DATABASE_URL": database_url, **(env or {})}
    command = [cli(), "serve", "--port", str(port), "--workers", "1", *options]
    if "--host" not in options:
        command += ["--host", "127.0.0.1"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=environment, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"the server exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no answer in 60 s:\n{log.read_text()[-3000:]}"
            try:
                httpx.get(f"{url}/healthz", timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
