"""A resumable pull of a query's change feed into an NDJSON file of change objects, and with
``follow`` its live tail after it (``atende-logs pull --changes [--follow]``, docs/pull.md).

Each line is one change object exactly as the feed gives it (``{"op": "upsert", "id",
"changed_at", "item"}``, ``{"op": "delete", "id", "changed_at"}``, or a retention mark
``{"op": "expire", "before", "changed_at"}``: every record whose time is before ``before``
is gone, docs/sync.md, "Retention"), in commit order: applied in order, the lines give
exactly the records the list endpoint returns for the same filters. The first lines are the
history kept (every record's latest state, removals as deletes, the retention marks kept);
then, with ``follow``, each change as it commits.

Written as a pull writes its pages (``client.pull``): the lines appended and fsynced, then
the state (the cursor after them, the file's length) replaced atomically, so a kill -9 at
any moment and a rerun lose and repeat nothing. Unlike an item pull, the state stays when
the run ends: the next run appends the changes made since (a cron job keeps a file that
way), and ``--restart`` starts the file over.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from io import FileIO
from pathlib import Path
from types import TracebackType

import orjson

from atende_logs.client.api import MAX_PAGE_SIZE, LogsClient, kind_named
from atende_logs.client.pull import _append, _state_to_resume, open_output
from atende_logs.client.state import PullSpec, PullState, save_state, state_path
from atende_logs.client.tail import Change
from atende_logs.formats import Format, Output
from atende_logs.kinds import Kind


class ChangesPull:
    """The change feed of a query into ``output``, resumed from its state when there is one::

    with ChangesPull.open(client, "cdrs", {"period": "worktime"}, Path("cdrs.changes.ndjson"))
            as pull:
        for state in pull.run(follow=True):   # endless with follow
            print(state.items, "changes")
    """

    def __init__(
        self, client: LogsClient, spec: PullSpec, output: Path, file: FileIO, state: PullState
    ) -> None:
        self.client = client
        self.spec = spec
        self.output = output
        self.file = file
        self.state = state
        self.resumed_from = state.items
        self._state_file = state_path(output)

    @classmethod
    def open(
        cls,
        client: LogsClient,
        kind: Kind | str,
        params: Mapping[str, str],
        output: Path,
        *,
        restart: bool = False,
    ) -> ChangesPull:
        """Start or resume; raises what ``Pull.open`` raises."""
        kind = kind_named(kind)
        fmt = Output(Format.NDJSON)
        spec = PullSpec(client.url, kind, tuple(client.query(kind, params)), fmt, changes=True)
        state = None if restart else _state_to_resume(state_path(output), spec, output)
        file, state = open_output(output, spec, state_path(output), state)
        return cls(client, spec, output, file, state)

    def __enter__(self) -> ChangesPull:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the output; the state stays, for the next run to go on from."""
        self.file.close()

    def run(self, size: int = MAX_PAGE_SIZE, follow: bool = False) -> Iterator[PullState]:
        """Append the changes after the state's cursor, yielding the state after each write:
        the feed's pages until its end, then, with ``follow``, the live tail, for ever."""
        kind, params = self.spec.kind, dict(self.spec.params)
        since = _cursor(self.state)
        for changes, cursor in self.client.change_pages(kind, params, since=since, size=size):
            if changes or cursor != self.state.after:
                self._write(changes, cursor)
                yield self.state
        if not follow:
            return
        with self.client.tail(kind, params, since=_cursor(self.state), size=size) as tail:
            for change in tail:
                assert tail.cursor is not None
                self._write([change], tail.cursor)
                yield self.state

    def _write(self, changes: list[Change], cursor: str) -> None:
        data = b"".join(orjson.dumps(change) + b"\n" for change in changes)
        if data:
            _append(self.file, data)
        self.state = self.state.moved(cursor, len(changes), len(data))
        save_state(self._state_file, self.state)


def _cursor(state: PullState) -> str | None:
    return state.after if isinstance(state.after, str) else None
