"""Migration 0013 backfills every stored record as a change, so a consumer starting after the
upgrade receives everything there is; and a new kind's table (``create_log_table``) gets its
change table like the three."""

from __future__ import annotations

from datetime import UTC

from atende_logs.config import Settings
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CARDS, CDRS
from atende_logs.models import FEED_START, ChangeQuery, SearchQuery
from atende_logs.storage import open_store
from atende_logs.storage.migrate import downgrade, upgrade

BASE_MS = 1_700_000_000_000


def test_records_stored_before_the_feed_are_in_it(fresh_url: str) -> None:
    upgrade(fresh_url)
    store = open_store(Settings(database_url=fresh_url))
    try:
        customer = store.create_customer("before the feed")
        dialer, token = store.create_dialer(customer.id, "d")
        cdrs = [{"callid": f"c{n}", "ori_start_time": BASE_MS + n} for n in range(5)]
        ingest(store, customer.id, CDRS, as_records(cdrs), zone=UTC)
        cards = [{"id": "k1", "timestamp": BASE_MS}]
        ingest(store, customer.id, CARDS, as_records(cards), zone=UTC, dialer_id=dialer.id)
    finally:
        store.close()
    downgrade(fresh_url, "0012_erasure_counts")  # the schema before the feed, rows kept
    upgrade(fresh_url)
    store = open_store(Settings(database_url=fresh_url))
    try:
        page = store.changes_since(ChangeQuery(SearchQuery(CDRS, customer.id, size=10)))
        assert [c.doc_id for c in page.changes] == [f"c{n}" for n in range(5)]
        assert all(c.doc is not None and c.position.seq == 0 for c in page.changes)
        assert page.end_of_stream
        query = SearchQuery(CARDS, customer.id, size=10, dialer_token=token)
        assert [c.doc_id for c in store.changes_since(ChangeQuery(query)).changes] == ["k1"]
        # Changes after the upgrade come after the backfilled ones.
        ingest(store, customer.id, CDRS, as_records([{**cdrs[0], "period": "x"}]), zone=UTC)
        later = store.changes_since(
            ChangeQuery(SearchQuery(CDRS, customer.id, size=10), since=page.position)
        )
        assert [c.doc_id for c in later.changes] == ["c0"]
        assert later.changes[0].position.key() > page.position.key() > FEED_START.key()
    finally:
        store.close()
