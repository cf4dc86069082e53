"""Rows come back from the database exactly as they were encoded (``Store.encode_rows``).

PostgreSQL's rows travel as a binary COPY built by our own code (storage/_pgcopy.py): any
value it mis-encoded would be stored wrong or fail its whole batch.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _raw import raw_rows
from atende_logs.kinds import ATTENDANT_LOGS, CDRS, ColumnType, Kind
from atende_logs.models import Row
from atende_logs.query.times import MAX_MS
from atende_logs.storage import Store

# What ingest can hand over: text without NUL (documents.py leaves such keys out), whole
# numbers of up to 18 digits (normalize.integer), finite floats (normalize.number).
text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
VALUES: dict[ColumnType, st.SearchStrategy[Any]] = {
    "text": text,
    "integer": st.integers(-(10**18) + 1, 10**18 - 1),
    "real": st.floats(allow_nan=False, allow_infinity=False),
}


def rows_of(kind: Kind) -> st.SearchStrategy[list[Row]]:
    values = st.tuples(*(st.none() | VALUES[spec.column_type] for spec in kind.stored_filters))
    row = st.builds(
        Row,
        doc_id=text.filter(bool),
        time_ms=st.integers(0, MAX_MS),
        doc=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=3000).map(
            str.encode
        ),
        values=values,
    )
    return st.lists(row, min_size=1, max_size=20, unique_by=lambda r: r.doc_id)


@pytest.mark.parametrize("kind", [ATTENDANT_LOGS, CDRS], ids=lambda kind: kind.name)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_rows_come_back_as_written(
    store: Store, database_url: str, kind: Kind, data: st.DataObject
) -> None:
    rows = data.draw(rows_of(kind))
    customer = store.create_customer("encoding")
    encoded = store.encode_rows(kind, rows)

    assert encoded.count == len(rows)
    assert store.write_rows(customer.id, kind, encoded) == (len(rows), 0)
    columns = ", ".join(["doc_id", "time_ms", "doc", *kind.columns])
    back = raw_rows(
        database_url,
        f"SELECT {columns} FROM {kind.table} WHERE customer_id = ? ORDER BY doc_id",
        [customer.id],
    )
    expected = [(r.doc_id, r.time_ms, r.doc.decode(), *r.values) for r in rows]
    expected.sort(key=lambda r: r[0])
    assert sorted(back, key=lambda r: r[0]) == expected
    # Written again, every row is a replacement.
    assert store.write_rows(customer.id, kind, encoded) == (0, len(rows))
