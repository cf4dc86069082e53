"""A document sent again unchanged leaves its stored row as it was (PostgreSQL: the same
row version), so a producer's retries and re-imports write nothing but their check."""

from __future__ import annotations

from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from _raw import raw_rows
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CDRS
from atende_logs.storage.postgres import PostgresStore

pytestmark = pytest.mark.postgres

ZONE = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_url)
    try:
        yield store
    finally:
        store.close()


def _cdr(callid: str, **extra: object) -> dict[str, object]:
    return {"callid": callid, "ori_start_time": "2020-01-27T19:00:00.000-03:00", **extra}


def test_only_changed_documents_get_a_new_row_version(
    pg_store: PostgresStore, postgres_url: str
) -> None:
    customer = pg_store.create_customer("unchanged rows")
    same, changed = _cdr("u-1", has_audio=False), _cdr("u-2", has_audio=False)

    def send(*docs: dict[str, object]) -> dict[str, object]:
        return ingest(pg_store, customer.id, CDRS, as_records(list(docs)), zone=ZONE).as_dict()

    def versions() -> dict[str, str]:
        rows = raw_rows(
            postgres_url,
            "SELECT doc_id, xmin::text FROM cdrs WHERE customer_id = ?",
            [customer.id],
        )
        return dict(rows)

    assert send(same, changed)["stored"] == 2
    before = versions()
    answer = send(same, {**changed, "has_audio": True})
    assert (answer["stored"], answer["replaced"]) == (0, 2)  # both were there already
    after = versions()
    assert after["u-1"] == before["u-1"]  # sent unchanged: not rewritten
    assert after["u-2"] != before["u-2"]  # changed: a new version
    stored = raw_rows(
        postgres_url, "SELECT doc FROM cdrs WHERE customer_id = ? AND doc_id = 'u-2'", [customer.id]
    )
    assert '"has_audio":true' in stored[0][0]
