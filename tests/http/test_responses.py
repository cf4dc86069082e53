"""The page body is built from stored bytes; it must still be the JSON the spec shows."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from atende_logs.http.responses import page_body
from atende_logs.models import Page

documents = st.lists(
    st.dictionaries(
        st.text(max_size=5), st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5), max_size=3
    ),
    max_size=5,
)
afters = st.none() | st.integers(min_value=0, max_value=2**53) | st.text(max_size=20)


@given(documents, st.integers(min_value=0, max_value=10**12), afters)
def test_page_body_is_the_page_as_json(items, total, after):
    page = Page(total, after, [orjson.dumps(item) for item in items])

    assert orjson.loads(page_body(page)) == {"total": total, "after": after, "items": items}


def test_items_pass_through_byte_for_byte():
    stored = [b'{"b": 1,  "a": 2}', b'{"z":[ ]}']

    body = page_body(Page(2, None, stored))

    assert body == b'{"total":2,"after":null,"items":[{"b": 1,  "a": 2},{"z":[ ]}]}'
