"""A raw Server-Sent Events reader for the live tail's tests: what the server sends, block by
block, read on a thread so that a test can wait for the next block with a deadline."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

END = object()
"""Queued when the stream ended (cleanly or not)."""


@dataclass(frozen=True)
class Block:
    """One block up to a blank line: an event's fields, or comments."""

    fields: dict[str, str]
    comments: list[str]

    @property
    def change(self) -> dict[str, Any]:
        assert self.fields.get("event") == "change", self
        value: dict[str, Any] = orjson.loads(self.fields["data"])
        return value


class Stream:
    """``GET path`` with ``Accept: text/event-stream`` on ``http``, read on a thread."""

    def __init__(
        self,
        http: httpx.Client,
        path: str,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        request = http.build_request(
            "GET",
            path,
            params=params or {},
            headers={"accept": "text/event-stream", **(headers or {})},
        )
        self.response = http.send(request, stream=True)
        self.blocks: queue.Queue[Any] = queue.Queue()
        self.ended_cleanly: bool | None = None
        if self.response.status_code == 200:
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        comments: list[str] = []
        try:
            for line in self.response.iter_lines():
                if not line:
                    self.blocks.put(Block(fields, comments))
                    fields, comments = {}, []
                elif line.startswith(":"):
                    comments.append(line[1:].strip())
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    fields[name] = fields[name] + "\n" + value if name in fields else value
            self.ended_cleanly = True
        except httpx.HTTPError:
            self.ended_cleanly = False
        finally:
            self.blocks.put(END)

    def next(self, timeout: float = 10.0) -> Block:
        """The next block; fails if none comes within ``timeout`` or the stream ended."""
        block = self.blocks.get(timeout=timeout)
        assert block is not END, "the stream ended"
        assert isinstance(block, Block)
        return block

    def next_event(self, timeout: float = 10.0) -> Block:
        """The next event within ``timeout``, skipping comments (heartbeats)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no event came"
            try:
                block = self.next(left)
            except queue.Empty:
                raise AssertionError("no event came") from None
            if block.fields:
                return block

    def events(self, count: int, timeout: float = 10.0) -> list[Block]:
        found: list[Block] = []
        try:
            for _ in range(count):
                found.append(self.next_event(timeout))
        except AssertionError:
            raise AssertionError(f"{len(found)} events of {count}: {found}") from None
        return found

    def quiet_for(self, seconds: float) -> list[Block]:
        """Blocks with fields (events) that arrive within ``seconds``: none is expected."""
        found = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                block = self.blocks.get(timeout=left)
            except queue.Empty:
                break
            if block is END:
                break
            if block.fields:
                found.append(block)
        return found

    def ended(self, timeout: float) -> bool:
        """Whether the stream ends within ``timeout`` (blocks before the end are dropped)."""
        try:
            while self.blocks.get(timeout=timeout) is not END:
                pass
        except queue.Empty:
            return False
        return True

    def close(self) -> None:
        """Close, and wait for the reader: the socket is released (and the server sees the
        disconnect) once the reader's pending read returns, at the next heartbeat."""
        self.response.close()
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
