"""What a pull keeps beside its output so that, interrupted, it can go on where it stopped.

``FILE.pull-state.json`` holds::

    {"version": 1,
     "fingerprint": "5f0c…",             # SHA-256 of the arguments that decide the bytes
     "pull": {"url": …, "kind": …, "params": [[name, value], …], "format": …},
                                         # and for CSV "delimiter", "bom", "formulas"
     "after": 1580164093000,             # the cursor after the last page written
     "items": 2000,                      # items written so far
     "bytes": 1843211,                   # the length of the file those items end at
     "total": 63395}                     # the server's last count, for the progress bar

The key is never part of it; the dialer token only through the fingerprint (``pull`` shows
it masked). The file is replaced atomically (temporary file, fsync, ``os.replace``), so
it always describes a whole page boundary of the output.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from atende_logs.client.api import After, Page
from atende_logs.client.errors import PullError
from atende_logs.formats import Format, Output
from atende_logs.kinds import Kind

STATE_SUFFIX = ".pull-state.json"
VERSION = 1
MASK = "****************"


@dataclass(frozen=True)
class PullSpec:
    """Everything that decides what a pull writes; its fingerprint identifies the pull."""

    url: str
    kind: Kind
    params: tuple[tuple[str, str], ...]
    fmt: Output
    changes: bool = False
    """The change feed's changes rather than the query's items (``client.follow``)."""

    def described(self, mask_token: bool = True) -> dict[str, Any]:
        """The spec as JSON-ready data; the dialer token masked unless asked otherwise."""
        params = sorted(
            (name, MASK if name == "token" and mask_token else value) for name, value in self.params
        )
        described: dict[str, Any] = {
            "url": self.url.rstrip("/"),
            "kind": self.kind.name,
            "params": [list(pair) for pair in params],
            "format": self.fmt.format.value,
        }
        if self.changes:  # only then: the fingerprints of item pulls stay as they were
            described["changes"] = True
        if self.fmt.format is Format.CSV:  # the other formats' bytes do not depend on these
            fmt = self.fmt
            described |= {"delimiter": fmt.delimiter, "bom": fmt.bom, "formulas": fmt.formulas}
        return described

    def fingerprint(self) -> str:
        canonical = orjson.dumps(self.described(mask_token=False), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class PullState:
    """Where a pull stands: every item up to ``after`` is in the first ``length`` bytes."""

    fingerprint: str
    pull: dict[str, Any]
    after: After | None
    items: int
    length: int
    total: int | None = None

    @classmethod
    def fresh(cls, spec: PullSpec, length: int) -> PullState:
        return cls(spec.fingerprint(), spec.described(), None, 0, length)

    def advanced(self, page: Page, written: int) -> PullState:
        """The state once ``page`` is written, ``written`` bytes long."""
        return replace(
            self,
            after=page.after,
            items=self.items + len(page.raw_items),
            length=self.length + written,
            total=page.total,
        )

    def moved(self, cursor: str, count: int, written: int) -> PullState:
        """The state once ``count`` changes up to ``cursor`` are written, ``written`` bytes."""
        return replace(self, after=cursor, items=self.items + count, length=self.length + written)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "version": VERSION,
                "fingerprint": self.fingerprint,
                "pull": self.pull,
                "after": self.after,
                "items": self.items,
                "bytes": self.length,
                "total": self.total,
            },
            option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE,
        )

    @classmethod
    def from_json(cls, data: bytes) -> PullState:
        """Raises ValueError when ``data`` is not a state this version wrote."""
        try:
            body = orjson.loads(data)
            if body["version"] != VERSION:
                raise ValueError(f"version {body['version']!r}, not {VERSION}")
            state = cls(
                body["fingerprint"],
                body["pull"],
                body["after"],
                body["items"],
                body["bytes"],
                body["total"],
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(str(exc)) from exc
        if not all(type(n) is int and n >= 0 for n in (state.items, state.length)):
            raise ValueError("items and bytes must be whole numbers")
        if not (state.after is None or type(state.after) in (int, str)):
            raise ValueError(f"after is neither a number nor a text: {state.after!r}")
        if not isinstance(state.fingerprint, str) or not isinstance(state.pull, dict):
            raise ValueError("no fingerprint")
        return state


def state_path(output: Path) -> Path:
    """The state file of a pull into ``output``."""
    return output.with_name(output.name + STATE_SUFFIX)


def load_state(path: Path) -> PullState | None:
    """The state at ``path``, None when there is none. Raises PullError if unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return PullState.from_json(data)
    except ValueError as exc:
        raise PullError(
            f"{path} is not a pull state ({exc}): add --restart to start the pull over"
        ) from exc


def save_state(path: Path, state: PullState) -> None:
    """Replace the state at ``path`` atomically: after a crash it is the old one or the new
    one, whole, never a mix.

    The directory is not fsynced: after a power cut the rename may be undone, leaving the
    previous state, which is just as consistent (the output is truncated back to it), and
    each page waits less (docs/benchmarks-history.md, "Figures from code comments").
    """
    temporary = _temporary(path)
    with temporary.open("wb") as file:
        file.write(state.to_json())
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def remove_state(path: Path) -> None:
    """Remove the state at ``path``, and a temporary one a crash may have left."""
    path.unlink(missing_ok=True)
    _temporary(path).unlink(missing_ok=True)


def _temporary(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot be
    opened, as on Windows)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
