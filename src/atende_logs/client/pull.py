"""A resumable pull of every item of a query into a file.

Each page is written in an order that survives a crash (a kill -9, a power cut) at any
point and loses or repeats nothing:

1. append the page to the output and fsync it;
2. replace the state (``state.py``) atomically: the cursor after the page and the output's
   new length.

The state therefore never claims bytes that are not on disk. After a crash between the two
steps the output holds a page the state does not know of; a resumed pull truncates the
output to the recorded length and asks again from the recorded cursor, so the page is
written once. A finished pull removes its state.

The next page is requested while this one is written (``prefetch.py``): its ``after`` is
known once this page is parsed. Per-page fsyncs stay: they cost a few ms each here, hidden
behind the next page's transfer, and keep the state naming every page ``run`` has yielded.

Parquet cannot be appended to: the items are appended as NDJSON to a staging file beside
the output (``FILE.pull-staging.ndjson``), converted when the listing ends, and the
Parquet file is renamed into place before the state is removed.

The bytes are those of the server's exports: the same encoders (``export.encoders``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from io import FileIO
from pathlib import Path
from types import TracebackType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from atende_logs.client import parquet
from atende_logs.client.api import MAX_PAGE_SIZE, LogsClient, kind_named
from atende_logs.client.errors import PullError, StateMismatchError
from atende_logs.client.state import (
    PullSpec,
    PullState,
    fsync_directory,
    load_state,
    remove_state,
    save_state,
    state_path,
)
from atende_logs.export.encoders import Encoder, NdjsonEncoder, encoder_for
from atende_logs.formats import CsvFormulas, Format, Output
from atende_logs.kinds import Kind

if sys.platform != "win32":
    import fcntl

STAGING_SUFFIX = ".pull-staging.ndjson"
FORMATS = (Format.NDJSON, Format.CSV, Format.PARQUET)
"""The formats a pull writes."""


@dataclass(frozen=True)
class PullResult:
    """What a finished pull wrote."""

    output: Path
    items: int
    """Items in the output."""
    resumed_from: int
    """Items the output already held when this run began (0 for a pull from the start)."""
    total: int | None
    """The server's count of matching items on the last page (None when there was none)."""


def staging_path(output: Path) -> Path:
    """Where a Parquet pull stages its items as NDJSON."""
    return output.with_name(output.name + STAGING_SUFFIX)


def output_for_path(
    path: str | Path, delimiter: str = ",", bom: bool = False, formulas: CsvFormulas = "escape"
) -> Output:
    """The output a file's name suggests: ``.csv`` CSV, ``.parquet`` or ``.pq`` Parquet,
    else NDJSON; ``delimiter``, ``bom`` and ``formulas`` shape a CSV."""
    return Output(Format.of_path(path) or Format.NDJSON, delimiter, bom, formulas)


class Pull:
    """One pull into ``output``: started afresh, or resumed when its state says so.

    ``open`` checks the arguments against an existing state and takes the file; ``run``
    fetches and appends the remaining pages, yielding the state after each; ``finish``
    converts (Parquet) and removes the state. A pull left without ``finish`` resumes next
    time::

        with Pull.open(client, "cdrs", {"start_at": "2026-11-01"}, Path("cdrs.csv"),
                       Output(Format.CSV)) as pull:
            for state in pull.run():
                print(state.items, "of", state.total)
            result = pull.finish()
    """

    def __init__(
        self,
        client: LogsClient,
        spec: PullSpec,
        output: Path,
        file: FileIO,
        state: PullState,
    ) -> None:
        self.client = client
        self.spec = spec
        self.output = output
        self.state = state
        self.resumed_from = state.items
        self._file = file
        self._state_file = state_path(output)
        self._encoder = _encoder(spec)

    @classmethod
    def open(
        cls,
        client: LogsClient,
        kind: Kind | str,
        params: Mapping[str, str],
        output: Path,
        fmt: Output | None = None,
        *,
        restart: bool = False,
    ) -> Pull:
        """Start a pull of ``kind`` (a ``Kind`` or its name) into ``output``, or resume the
        one its state describes; ``fmt`` is one of ``FORMATS``, NDJSON when not given.

        ``restart`` discards an existing state and starts over. Raises ValueError for a bad
        kind, parameter or format, ``StateMismatchError`` when the state was left by a pull
        with other arguments, ``PullError`` when the output cannot be resumed or is being
        written by another pull, ``MissingExtraError`` for Parquet without pyarrow.
        """
        kind = kind_named(kind)
        fmt = fmt or Output(Format.NDJSON)
        if fmt.format not in FORMATS:
            raise ValueError(f"a pull writes {', '.join(FORMATS)}, not {fmt.format}")
        spec = PullSpec(client.url, kind, tuple(client.query(kind, params)), fmt)
        if fmt.format is Format.PARQUET:
            parquet.require_pyarrow()
            _zone(dict(spec.params))  # an unknown tz fails now, not after the download
        target = _target(output, fmt)
        state = None if restart else _state_to_resume(state_path(output), spec, target)
        file, state = open_output(target, spec, state_path(output), state)
        return cls(client, spec, output, file, state)

    def __enter__(self) -> Pull:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is not None and self.state.items == 0:
            self._discard()  # nothing was pulled: leave nothing behind
        self.close()

    def close(self) -> None:
        """Release the output (the state stays, for a later run to resume)."""
        self._file.close()

    def _discard(self) -> None:
        remove_state(self._state_file)
        _target(self.output, self.spec.fmt).unlink(missing_ok=True)

    def run(self, size: int = MAX_PAGE_SIZE) -> Iterator[PullState]:
        """Fetch the pages after the state's cursor, append each, yield the state after it."""
        # The next page is fetched while this one is parsed, written and fsynced: its
        # request needs only this page's after. Each page is still fsynced before the state
        # names it.
        pages = self.client.pages(
            self.spec.kind, dict(self.spec.params), after=self.state.after, size=size, ahead=True
        )
        with closing(pages):
            for page in pages:
                data = self._encoder.encode_texts(page.raw_items)
                _append(self._file, data)
                self.state = self.state.advanced(page, len(data))
                save_state(self._state_file, self.state)
                yield self.state

    def finish(self) -> PullResult:
        """End the pull once ``run`` is exhausted: convert to Parquet if asked, remove the
        state (and staging file), release the output."""
        if self.spec.fmt.format is Format.PARQUET:
            self._convert()
        remove_state(self._state_file)
        if self.spec.fmt.format is Format.PARQUET:
            # Only now: a crash before this leaves a state that resumes from the staging.
            staging_path(self.output).unlink(missing_ok=True)
        self.close()
        return PullResult(self.output, self.state.items, self.resumed_from, self.state.total)

    def _convert(self) -> None:
        """The staged NDJSON as a Parquet file, renamed into place whole."""
        temporary = self.output.with_name(self.output.name + ".pull-tmp")
        zone = _zone(dict(self.spec.params))
        with staging_path(self.output).open("rb") as lines:
            parquet.write_parquet(lines, temporary, self.spec.kind, zone)
        with temporary.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, self.output)
        fsync_directory(self.output.parent)


def pull_to_file(
    client: LogsClient,
    kind: Kind | str,
    params: Mapping[str, str],
    output: Path,
    fmt: Output | None = None,
    *,
    size: int = MAX_PAGE_SIZE,
    restart: bool = False,
    on_page: Callable[[PullState], None] | None = None,
) -> PullResult:
    """Pull every item of a query into ``output``, resuming an interrupted pull into it.

    See ``Pull.open`` for the arguments and errors; ``on_page`` is told the state after
    each page written.
    """
    with Pull.open(client, kind, params, output, fmt, restart=restart) as pull:
        for state in pull.run(size):
            if on_page is not None:
                on_page(state)
        return pull.finish()


def _target(output: Path, fmt: Output) -> Path:
    """The file a pull appends to: the output, or for Parquet its staging file."""
    return staging_path(output) if fmt.format is Format.PARQUET else output


def _encoder(spec: PullSpec) -> Encoder:
    """The encoder of the file a pull appends to: Parquet's staging file is NDJSON."""
    if spec.fmt.format is Format.PARQUET:
        return NdjsonEncoder()
    return encoder_for(spec.kind, spec.fmt)


def _state_to_resume(path: Path, spec: PullSpec, target: Path) -> PullState | None:
    """The state at ``path`` when it is this pull's, None when there is nothing to resume."""
    state = load_state(path)
    if state is None:
        return None
    if state.fingerprint != spec.fingerprint():
        if state.items == 0:
            return None  # a pull that wrote nothing has nothing to lose: start this one
        raise _mismatch(state, path)
    if not target.exists():
        raise PullError(f"{target} is gone; add --restart to start the pull over")
    return state


def _mismatch(state: PullState, path: Path) -> StateMismatchError:
    left = state.pull
    params = " ".join(f"{name}={value}" for name, value in left.get("params", []))
    return StateMismatchError(
        f"{path} belongs to another pull into this file ({left.get('kind')} from "
        f"{left.get('url')}{' with ' + params if params else ''}, format "
        f"{left.get('format')}), {state.items} items in. Run that pull's command again to "
        "resume it, or add --restart to discard it and start this one."
    )


def _start(file: FileIO, spec: PullSpec, state_file: Path) -> PullState:
    """Empty the file, write its head, and record the first state."""
    file.truncate(0)
    head = _encoder(spec).head()
    _append(file, head)
    state = PullState.fresh(spec, len(head))
    save_state(state_file, state)
    return state


def _rewind(file: FileIO, state: PullState, target: Path) -> None:
    """Drop what was appended after the state was last saved (a page the crash cut off)."""
    size = os.fstat(file.fileno()).st_size
    if size < state.length:
        raise PullError(
            f"{target} is shorter than its pull state says ({size} < {state.length} bytes): "
            "it was changed since; add --restart to start the pull over"
        )
    file.truncate(state.length)
    os.fsync(file.fileno())


def _append(file: FileIO, data: bytes) -> None:
    """All of ``data`` at the end of the file, on disk when this returns."""
    view = memoryview(data)
    while view:
        written = file.write(view)
        view = view[written or 0 :]
    os.fsync(file.fileno())


def open_output(
    target: Path, spec: PullSpec, state_file: Path, state: PullState | None
) -> tuple[FileIO, PullState]:
    """``target`` opened for appending and locked, then started anew (``state`` None) or cut
    back to what ``state`` recorded; closed again if any of that fails."""
    file = FileIO(target, "a+")  # unbuffered: what write() returned is in the kernel
    try:
        _lock(file, target)
        if state is None:
            state = _start(file, spec, state_file)
        else:
            _rewind(file, state, target)
    except BaseException:
        file.close()
        raise
    return file, state


def _lock(file: FileIO, target: Path) -> None:
    """Keep a second pull from appending to the same file at the same time."""
    if sys.platform == "win32":  # pragma: no cover - no flock there
        return
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise PullError(f"another pull is writing {target}; wait for it to end") from exc


def _zone(params: Mapping[str, str]) -> ZoneInfo:
    """The zone offset-less times of the Parquet output are read in."""
    name = params.get("tz") or parquet.DEFAULT_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone: {name!r}") from exc
