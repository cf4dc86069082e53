"""What a sync left at its destination, read back for comparing with the list endpoint."""

from __future__ import annotations

from typing import Any

import orjson

from atende_logs.sync import open_destination

Doc = dict[str, Any]


def copy_of(where: str, table: str) -> dict[str, Doc]:
    """``table``'s documents by id; fails on a duplicate id."""
    with open_destination(where) as destination:
        rows = destination.execute(f'SELECT id, doc FROM "{table}"')
    found = {id_: orjson.loads(doc) if isinstance(doc, str) else doc for id_, doc in rows}
    assert len(found) == len(rows), "an id twice"
    return found


def cursor_of(where: str, table: str) -> str | None:
    with open_destination(where) as destination:
        state = destination.state(table)
    return None if state is None else state.cursor
