"""``Sync``: a query's change feed applied to its table at a destination, page by page,
each page's rows and the cursor after them in one transaction
(docs/sync.md, "A table kept exact (atende-logs sync)").

A kill -9 at any moment leaves the table and its cursor as they were after some page:
the rerun asks the feed from that cursor and applies exactly the rest.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson

from atende_logs.client.api import MAX_PAGE_SIZE, LogsClient, kind_named
from atende_logs.client.errors import ApiError, ProtocolError
from atende_logs.client.state import MASK
from atende_logs.client.tail import Change
from atende_logs.kinds import Kind
from atende_logs.sync.columns import column_values, table_columns
from atende_logs.sync.destination import Destination, SyncError, SyncState, check_name

_Page = tuple[list[Change], str]

COMMIT_EVERY_S = 1.0
"""The longest a transaction goes on taking pages that are already read."""

LONG_POLL_S = 25
"""How long a ``follow`` request waits for a commit: below the client's 60 s timeout."""


@dataclass
class Progress:
    """What a run applied so far."""

    upserts: int = 0
    deletes: int = 0
    commits: int = 0
    marks: int = 0
    """Retention marks applied."""
    expired: int = 0
    """Rows those marks dropped."""


class Sync:
    """The changes of ``kind`` matching ``params`` into ``table`` (the kind's table name by
    default) at ``destination``::

        with LogsClient(url, key) as client, open_destination("copy.duckdb") as dest:
            for progress in Sync(client, dest, "cdrs", {"period": "worktime"}).run():
                print(progress.upserts, progress.deletes)
    """

    def __init__(
        self,
        client: LogsClient,
        destination: Destination,
        kind: Kind | str,
        params: Mapping[str, str] | None = None,
        table: str | None = None,
    ) -> None:
        self.client = client
        self.destination = destination
        self.kind = kind_named(kind)
        self.params = dict(client.query(self.kind, params))
        self.table = check_name(table or self.kind.table)
        self.columns = table_columns(self.kind)
        self.wanted = self._state("")
        self.progress = Progress()
        self._cursor = ""
        """The cursor after the last change applied (committed or in the open transaction)."""

    def run(
        self,
        size: int = MAX_PAGE_SIZE,
        follow: bool = False,
        rebuild: bool = False,
        wait: int = LONG_POLL_S,
    ) -> Iterator[Progress]:
        """Apply the changes after the table's cursor, yielding after each commit: until
        the feed's end, then with ``follow`` each change as it commits, for ever.

        ``rebuild`` drops the table and copies the feed from its start, in one transaction:
        readers see the old copy until the new one is whole. Raises SyncError (a table
        holding another query, a cursor the server no longer keeps), and what the client
        raises.
        """
        saved = self.destination.state(self.table)
        if rebuild or saved is None:
            self._check_new(saved)
            with self.destination.transaction():
                self.destination.drop(self.table)
                self.destination.create(self.table, self.columns)
                cursor = self._first(size, per_page=not rebuild)
            yield self.progress
        else:
            self._check_saved(saved)
            cursor = saved.cursor
        yield from self._apply_pages(cursor, size, 0)
        while follow:
            yield from self._apply_pages(self._cursor, size, wait)

    def _first(self, size: int, per_page: bool) -> str:
        """The feed from its start, in the open transaction: only its first page when
        ``per_page`` (the rest in transactions of their own, so a long first copy can be
        resumed), else all of it (a rebuild replaces the copy at once)."""
        pages: Iterator[_Page] = self._pages(None, size, 0)
        if not per_page:
            pages = _Ahead(pages)
        changes, cursor = next(pages)
        self._apply(changes)
        self.destination.start(self._state(cursor))
        if not per_page:
            for changes, after in pages:
                self._apply(changes)
                self.destination.advance(self.table, cursor, after)
                cursor = after
        self.progress.commits += 1
        return cursor

    def _apply_pages(self, cursor: str, size: int, wait: int) -> Iterator[Progress]:
        """The feed's pages after ``cursor``, applied with the cursor after each. A page that
        the reader already holds joins the open transaction (up to ``COMMIT_EVERY_S``): a
        commit costs a flush to disk, and while catching up one per page was most of the
        time; a kill -9 then loses at most that second of work, never the copy's truth."""
        self._cursor = cursor
        pages = _Ahead(self._pages(cursor, size, wait))
        page = next(pages, None)
        while page is not None:
            began, applied = time.monotonic(), False
            with self.destination.transaction():
                while page is not None:
                    changes, after = page
                    if changes or after != self._cursor:  # else a long-poll that timed out
                        self._apply(changes)
                        self.destination.advance(self.table, self._cursor, after)
                        self._cursor, applied = after, True
                    if not pages.waiting() or time.monotonic() - began >= COMMIT_EVERY_S:
                        break
                    page = next(pages, None)
            if applied:
                self.progress.commits += 1
                yield self.progress
            page = next(pages, None) if page is not None else None

    def _apply(self, changes: list[Change]) -> None:
        """A page's changes, in the feed's order: the records' changes between two retention
        marks as one write, each mark after what precedes it and before what follows, so a
        record upserted before a mark and older than it goes, one upserted after it stays."""
        latest: dict[str, Change] = {}  # a record's last change wins
        for change in changes:
            if change["op"] == "expire":
                self._write(latest)
                latest = {}
                self._expire(change)
            else:
                latest[change["id"]] = change
        self._write(latest)

    def _write(self, latest: dict[str, Change]) -> None:
        upserts = [c for c in latest.values() if c["op"] == "upsert"]
        deletes = [id_ for id_, c in latest.items() if c["op"] == "delete"]
        if upserts:
            values = column_values(self.columns, upserts)
            self.destination.upsert(self.table, self.columns, values)
        self.destination.delete(self.table, deletes)
        self.progress.upserts += len(upserts)
        self.progress.deletes += len(deletes)

    def _expire(self, mark: Change) -> None:
        """A retention mark: every row whose time is before its ``before`` is gone
        (docs/sync.md, "Retention"). The time column holds the kind's time field as
        ``columns`` reads it (an offset-less time in ``DEFAULT_ZONE``)."""
        before = mark_time(mark)
        time_column = self.kind.time_field
        self.progress.expired += self.destination.delete_before(self.table, time_column, before)
        self.progress.marks += 1

    def _pages(self, since: str | None, size: int, wait: int) -> Iterator[_Page]:
        try:
            yield from self.client.change_pages(
                self.kind, self.params, since=since, size=size, wait=wait
            )
        except ApiError as exc:
            if exc.status == 410:
                raise SyncError(
                    f"the server no longer keeps the changes after {self.table}'s cursor "
                    f"(410 {exc.code}: {exc.message}): the copy may miss removals. Rebuild it: run "
                    "again with --rebuild (in one transaction; readers see the old copy until "
                    "the new one is whole)."
                ) from exc
            raise

    def _check_new(self, saved: SyncState | None) -> None:
        """Refuse to replace a table that no sync made."""
        if saved is None and self.destination.has_table(self.table):
            raise SyncError(
                f"{self.destination.where} already has a table {self.table} that no sync "
                "made: sync into another table (--table) or another destination"
            )

    def _check_saved(self, saved: SyncState) -> None:
        if saved.fingerprint != self.wanted.fingerprint:
            raise SyncError(
                f"{self.table} at {self.destination.where} is the copy of another query "
                f"({_describe(saved)}); this run asks for {_describe(self.wanted)}. Sync into "
                "another table (--table) or destination, or replace the copy with --rebuild."
            )
        if not self.destination.has_table(self.table):
            raise SyncError(
                f"{self.table} is gone from {self.destination.where} but its cursor is still "
                "in atende_sync: run again with --rebuild to copy it again"
            )

    def _state(self, cursor: str) -> SyncState:
        params = sorted(self.params.items())
        shown = [[name, MASK if name == "token" else value] for name, value in params]
        identity = orjson.dumps([self.client.url, self.kind.name, params])
        return SyncState(
            self.table,
            self.kind.name,
            self.client.url,
            orjson.dumps(dict(shown)).decode(),
            hashlib.sha256(identity).hexdigest(),
            cursor,
        )


class _Ahead:
    """``pages``, the next one read by a thread while the caller writes this one: the
    server's and the destination's time overlap (docs/sync.md, "Measured")."""

    def __init__(self, pages: Iterator[_Page]) -> None:
        self._ready: queue.Queue[tuple[_Page | None, BaseException | None]] = queue.Queue(1)
        self._pages = pages
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for page in self._pages:
                self._ready.put((page, None))
            self._ready.put((None, None))
        except BaseException as exc:  # handed to the caller, raised there
            self._ready.put((None, exc))

    def waiting(self) -> bool:
        """Whether the next page (or the end) is already read: taking it will not block."""
        return not self._ready.empty()

    def __iter__(self) -> _Ahead:
        return self

    def __next__(self) -> _Page:
        page, error = self._ready.get()
        if error is not None:
            raise error
        if page is None:
            self._ready.put((None, None))  # the end stays the end
            raise StopIteration
        return page


def mark_time(mark: Change) -> datetime:
    """A retention mark's ``before``, an aware instant; ProtocolError when it is none."""
    before = mark.get("before")
    try:
        if isinstance(before, str):
            moment = datetime.fromisoformat(before)
            if moment.tzinfo is not None:
                return moment
    except ValueError:
        pass
    raise ProtocolError(f"the server sent a retention mark without a valid before: {mark!r}")


def _describe(state: SyncState) -> str:
    return f"{state.kind} from {state.url} with {state.params}"
