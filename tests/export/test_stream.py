"""Reading a whole listing in keyset chunks (``Store.scan`` and ``Export``), on both databases."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from _export_data import BASE_MS, make_docs, new_tenant, put
from atende_logs.export.encoders import CsvEncoder, NdjsonEncoder
from atende_logs.export.stream import Export
from atende_logs.kinds import CDRS
from atende_logs.models import SearchQuery
from atende_logs.query.cursor import parse_after
from atende_logs.storage import Store


def _everything(store: Store, query: SearchQuery) -> list[bytes]:
    """The listing through ``Store.search``, page after page."""
    items: list[bytes] = []
    after = None
    while True:
        page = store.search(SearchQuery(query.kind, query.customer_id, 1000, after=after))
        if not page.items:
            return items
        items += page.items
        after = parse_after(str(page.after))


@settings(max_examples=30)
@given(
    offsets=st.lists(st.sampled_from([0, 0, 0, 1, 5]), max_size=17),
    chunk_rows=st.integers(1, 6),
)
def test_chunks_join_into_the_listing(store: Store, offsets: list[int], chunk_rows: int) -> None:
    tenant = new_tenant(store)
    put(store, tenant, "cdrs", make_docs("cdrs", [BASE_MS + o for o in offsets], random.Random(1)))
    query = SearchQuery(CDRS, tenant.customer_id, size=1)
    expected = _everything(store, query)

    chunks = []
    position = query
    while True:
        chunk = store.scan(position, chunk_rows)
        chunks.append(chunk.items)
        if len(chunk.items) < chunk_rows:
            break
        assert chunk.last is not None
        position = SearchQuery(CDRS, tenant.customer_id, 1, after=chunk.last)
    assert [item for items in chunks for item in items] == expected
    assert all(len(items) == chunk_rows for items in chunks[:-1])

    export = Export(store, query, NdjsonEncoder(), chunk_rows)
    body = b""
    while (piece := export.next_chunk()) is not None:
        body += piece
    assert body == b"".join(item + b"\n" for item in expected)
    assert export.items == len(expected)
    assert export.next_chunk() is None


def test_the_csv_header_comes_once_even_for_nothing(store: Store) -> None:
    tenant = new_tenant(store)
    export = Export(store, SearchQuery(CDRS, tenant.customer_id, 1), CsvEncoder(CDRS), 2)
    first = export.next_chunk()
    assert first is not None and first.startswith(b"callid,") and first.count(b"\r\n") == 1
    assert export.next_chunk() is None
