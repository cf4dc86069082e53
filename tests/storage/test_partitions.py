"""PostgreSQL's log tables partitioned by time (issue 18; docs/partitions.md): a month's
query reads one partition, a record stays one row when its time changes, the default
partition takes any date and the upkeep moves it out, and retention drops whole partitions
and tells the change feed with one mark per customer."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient

from atende_logs import retention
from atende_logs.config import Settings
from atende_logs.http.app import create_app
from atende_logs.ingest.batch import ingest, prepare
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CARDS, CDRS, Kind
from atende_logs.models import ChangeQuery, FeedPosition, Row, SearchQuery
from atende_logs.storage import Store, open_store
from atende_logs.storage._changes import _page_sql
from atende_logs.storage._common import search_sql
from atende_logs.storage.migrate import upgrade
from atende_logs.storage.partitions import month_start
from atende_logs.storage.postgres import DIALECT, PostgresStore, _known_sql, _staging_table
from changes._consumer import Consumer, listing

pytestmark = pytest.mark.postgres

NOW = datetime.now(UTC)
DAY_MS = 86_400_000


def month(back: int) -> int:
    """The first millisecond of the month ``back`` months before this one."""
    return month_start(NOW.year, NOW.month - back)


@pytest.fixture
def private(postgres_url: str) -> Iterator[tuple[str, Store]]:
    """A migrated schema of this test's own: its partitions and purges touch nobody else's."""
    url = postgres_url.split("?")[0]
    schema = f"parts_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    scoped = f"{url}?options={quote(f'-csearch_path={schema}')}"
    try:
        upgrade(scoped)
        store = open_store(Settings(database_url=scoped))
        try:
            yield scoped, store
        finally:
            store.close()
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def put(store: Store, customer_id: int, kind: Kind, docs: list[dict[str, Any]]) -> None:
    dialer = store.list_dialers(customer_id)[0].id if kind.scope.by_dialer else None
    ingest(store, customer_id, kind, as_records(docs), zone=UTC, dialer_id=dialer)


def cdr(doc_id: str, time_ms: int, **fields: Any) -> dict[str, Any]:
    return {"callid": doc_id, "ori_start_time": time_ms, **fields}


def rows_in(url: str, table: str) -> int:
    with psycopg.connect(url) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_write_makes_its_months_partitions_and_a_months_query_reads_one(
    private: tuple[str, Store],
) -> None:
    url, store = private
    customer = store.create_customer("big")
    # Three past months the migration made no partition for (an import of old files).
    docs = [
        cdr(f"m{back}-{n}", month(back) + n * 3_600_000) for back in (3, 4, 5) for n in range(4)
    ]
    put(store, customer.id, CDRS, docs)
    names = {p.name for p in store.list_partitions(CDRS)}
    assert {
        f"cdrs_p{datetime.fromtimestamp(month(b) / 1000, UTC):%Y%m}" for b in (3, 4, 5)
    } <= names
    assert rows_in(url, "cdrs_default") == 0 and rows_in(url, "cdrs") == 12
    query = SearchQuery(CDRS, customer.id, 1000, start_ms=month(4), end_ms=month(3) - 1)
    assert store.search(query).total == 4
    page_sql, params, count_sql, count_params = search_sql(query, None, DIALECT)
    month_name = f"cdrs_p{datetime.fromtimestamp(month(4) / 1000, UTC):%Y%m}"
    with psycopg.connect(url) as connection:
        for sql, values, reads in ((page_sql, params, True), (count_sql, count_params, False)):
            plan = "\n".join(
                row[0] for row in connection.execute(f"EXPLAIN {DIALECT.sql(sql)}", values)
            )
            scanned = {w.split("_customer")[0] for w in plan.split() if w.startswith("cdrs_")}
            # The page reads the month's partition alone; the count of whole hours reads
            # the hourly counts and no partition at all.
            assert scanned == ({month_name} if reads else set()), plan


def test_far_dates_are_kept_in_the_default_partition(private: tuple[str, Store]) -> None:
    url, store = private
    customer = store.create_customer("odd dates")
    far = [cdr("1975", 170_000_000_000), cdr("2990", 32_500_000_000_000)]
    put(store, customer.id, CDRS, far)
    store.maintain_partitions()
    assert rows_in(url, "cdrs_default") == 2  # no partition for a producer's bug
    # A month whose rows went to the default partition gets no partition later: rows never
    # move while the table serves (storage/partitions.py says why).
    with psycopg.connect(url) as connection:
        connection.execute(
            "INSERT INTO cdrs (customer_id, doc_id, time_ms, doc) VALUES (%s, 'x', %s, '{}')",
            [customer.id, month(9) + 1],
        )
    store.maintain_partitions()
    put(store, customer.id, CDRS, [cdr("late", month(9) + 2)])
    assert rows_in(url, "cdrs_default") == 4
    for doc in far:
        query = SearchQuery(
            CDRS, customer.id, 10, start_ms=doc["ori_start_time"], end_ms=doc["ori_start_time"]
        )
        assert [orjson.loads(item)["callid"] for item in store.search(query).items] == [
            doc["callid"]
        ]


def test_a_record_sent_again_at_another_time_stays_one_row(
    private: tuple[str, Store],
) -> None:
    url, store = private
    customer = store.create_customer("rescheduling")
    store.create_dialer(customer.id, "d")
    first, second = month(2) + 1_000, month(1) + 5_000
    card = {"id": "k1", "number": "5521999990000", "status": "to_call"}
    put(store, customer.id, CARDS, [{**card, "timestamp": first}])
    put(store, customer.id, CARDS, [{**card, "timestamp": second, "status": "scheduled"}])
    with psycopg.connect(url) as connection:
        stored = connection.execute(
            "SELECT tableoid::regclass::text, time_ms FROM cards WHERE doc_id = 'k1'"
        ).fetchall()
        hours = connection.execute(
            "SELECT hour_ms, row_count FROM hourly_counts WHERE kind = 'cards' "
            "AND customer_id = %s AND row_count != 0",
            [customer.id],
        ).fetchall()
    assert stored == [(f"cards_p{datetime.fromtimestamp(second / 1000, UTC):%Y%m}", second)]
    assert hours == [(second // 3_600_000 * 3_600_000, 1)]
    # Written again through the write of a broker's consumer: an older time never wins.
    dialer = store.list_dialers(customer.id)[0].id
    late = [{**card, "timestamp": first, "status": "late"}]
    rows = [r for r in prepare(CARDS, as_records(late), UTC, dialer) if isinstance(r, Row)]
    store.write_rows(customer.id, CARDS, store.encode_rows(CARDS, rows), dialer, newer_only=True)
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT time_ms FROM cards").fetchall() == [(second,)]


def test_concurrent_first_sendings_of_a_record_store_it_once(
    private: tuple[str, Store],
) -> None:
    url, store = private
    customer = store.create_customer("racing producers")
    for round_ in range(10):
        doc_id = f"race{round_}"
        gate = threading.Barrier(4)

        def send(offset: int, doc_id: str = doc_id, gate: threading.Barrier = gate) -> None:
            gate.wait()
            put(store, customer.id, CDRS, [cdr(doc_id, month(2 - offset % 2) + offset)])

        threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with psycopg.connect(url) as connection:
        counts = connection.execute("SELECT doc_id, count(*) FROM cdrs GROUP BY doc_id").fetchall()
    assert len(counts) == 10 and all(count == 1 for _, count in counts), counts


def test_retention_drops_whole_partitions_and_marks_the_feed(
    private: tuple[str, Store],
) -> None:
    url, store = private
    keeps_long, keeps_short = store.create_customer("long"), store.create_customer("short")
    store.set_retention(keeps_long.id, 70)
    store.set_retention(keeps_short.id, 40)
    docs = [cdr(f"{back}-{n}", month(back) + n * DAY_MS) for back in (1, 2, 3, 4) for n in range(5)]
    for customer in (keeps_long, keeps_short):
        put(store, customer.id, CDRS, docs)
    store.maintain_partitions()
    key = store.create_api_key(keeps_short.id)[1]
    with TestClient(create_app(Settings(database_url=url), store=store)) as client:
        consumer = Consumer(client, CDRS, key)
        consumer.catch_up()
        now = int(NOW.timestamp() * 1000)
        done = retention.purge(store, default_days=365, now_ms=now, pause_s=0)
        partitions = {p.name for p in store.list_partitions(CDRS)}
        # Every partition that ends before the longest-kept customer's cut is gone whole.
        long_cut = now - 70 * DAY_MS
        for back in (1, 2, 3, 4):
            name = f"cdrs_p{datetime.fromtimestamp(month(back) / 1000, UTC):%Y%m}"
            assert (name in partitions) == (month(back - 1) > long_cut), (name, partitions)
        deleted = {p.customer_id: p.deleted for p in done if p.kind == CDRS.name}
        for customer, days in ((keeps_long, 70), (keeps_short, 40)):
            cut = now - days * DAY_MS
            kept = [d for d in docs if d["ori_start_time"] >= cut]
            assert deleted[customer.id] == len(docs) - len(kept)
            query = SearchQuery(CDRS, customer.id, 1000)
            found = {orjson.loads(item)["callid"] for item in store.search(query).items}
            assert found == {d["callid"] for d in kept}
        # The split counts of the dropped months went with them (0016), as the hourly ones.
        with psycopg.connect(url) as connection:
            counted = connection.execute(
                "SELECT customer_id, hour_ms, value, row_count FROM split_counts "
                "WHERE kind = 'cdrs' AND row_count != 0 ORDER BY 1, 2, 3"
            ).fetchall()
            grouped = connection.execute(
                "SELECT customer_id, time_ms / 3600000 * 3600000, coalesce(call_status, ''), "
                "count(*) FROM cdrs GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            ).fetchall()
        assert counted == grouped and counted
        # The short customer's consumer got one mark, and its copy is the listing.
        marks = [c for c in consumer.pull()["changes"] if c["op"] == "expire"]
        assert len(marks) == 1
        assert consumer.copy == listing(client, CDRS, key)
        # The change rows of the dropped records are forgotten: a new consumer reads none.
        fresh = Consumer(client, CDRS, key)
        fresh.catch_up()
        assert fresh.copy == consumer.copy
        assert [c["op"] for c in fresh.received if c["op"] == "delete"] == []


def test_no_partition_keeps_statistics_of_the_documents(private: tuple[str, Store]) -> None:
    """Neither the tables nor any partition, made by the migrations, by the upkeep or by a
    write of a new month, sample ``doc`` in ANALYZE (0017)."""
    url, store = private
    customer = store.create_customer("statistics")
    put(store, customer.id, CDRS, [cdr("far", month_start(NOW.year + 2, 1) + DAY_MS)])
    store.maintain_partitions()
    with psycopg.connect(url) as connection:
        targets = connection.execute(
            "SELECT c.relname, a.attstattarget FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE a.attname = 'doc' AND c.relnamespace = current_schema()::regnamespace "
            "AND c.relkind IN ('r', 'p')"
        ).fetchall()
    names = {name for name, _ in targets}
    assert {"attendant_logs", "cdrs_default", f"cdrs_p{NOW.year + 2}01"} <= names
    assert [row for row in targets if row[1] != 0] == []


def test_an_import_analyzes_the_partitions_it_wrote_to_and_the_default(
    private: tuple[str, Store],
) -> None:
    """ANALYZE of a partitioned table samples every partition, then the whole table: an
    import refreshes the statistics of the partitions its time span overlaps, and of the
    default one, which takes rows no period holds; the others keep theirs."""
    url, store = private
    customer = store.create_customer("analyze")
    put(store, customer.id, CDRS, [cdr(f"a{n}", month(n % 3) + n * 1000) for n in range(300)])
    store.refresh_statistics(CDRS)  # the whole table: every partition counts its 100 rows
    with psycopg.connect(url, autocommit=True) as connection:
        for partition in store.list_partitions(CDRS):  # so that only the store analyzes
            connection.execute(f"ALTER TABLE {partition.name} SET (autovacuum_enabled = false)")
    stray = month(0) - 30 * 365 * DAY_MS  # further back than any partition is made for
    more = [cdr(f"b{n}", month(n % 3) + n * 1000) for n in range(300)] + [cdr("stray", stray)]
    put(store, customer.id, CDRS, more)

    store.refresh_statistics(CDRS, (month(1) + DAY_MS, month(1) + 2 * DAY_MS))

    with psycopg.connect(url) as connection:
        tuples = dict(
            connection.execute(
                "SELECT relname, reltuples FROM pg_class "
                "WHERE relnamespace = current_schema()::regnamespace AND relname LIKE 'cdrs_%'"
            ).fetchall()
        )
    by_start = {p.start_ms: p.name for p in store.list_partitions(CDRS)}
    assert tuples[by_start[month(1)]] == 200  # analyzed: the span's partition
    assert tuples[by_start[month(0)]] == tuples[by_start[month(2)]] == 100  # as they were
    assert tuples["cdrs_default"] == 1  # analyzed: the stray row is there


def test_statistics_are_refreshed_past_the_statement_timeout(private: tuple[str, Store]) -> None:
    """An import's closing ANALYZE samples every partition: it is not cut by the statement
    timeout that serves requests (a 10M-row import failed on it after storing everything)."""
    url, store = private
    customer = store.create_customer("analyze")
    docs = [cdr(f"a{n}", month(n % 6) + n * 1000, call_status="x" * 200) for n in range(3000)]
    put(store, customer.id, CDRS, docs)
    hurried = PostgresStore(url, statement_timeout_ms=1)  # below Settings' floor: a test's own
    try:
        hurried.refresh_statistics(CDRS)  # would raise: canceling statement due to timeout
    finally:
        hurried.close()


def test_a_new_customers_records_are_looked_up_by_the_primary_key(
    private: tuple[str, Store],
) -> None:
    """Each batch looks its records up in the change table. For a customer its statistics
    did not know (one importing its first file), the planner chose the feed's index
    (customer, seq, doc_id) and read every change row of the customer per record: each
    batch slower than the last. The lookup must take the primary key whatever the
    statistics know."""
    url, store = private
    known, new = store.create_customer("known"), store.create_customer("new")
    put(store, known.id, CDRS, [cdr(f"k{n}", month(1) + n * 1000) for n in range(3000)])
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("ANALYZE cdrs_changes")  # it knows one customer, not the other
    put(store, new.id, CDRS, [cdr(f"n{n}", month(1) + n * 1000) for n in range(3000)])
    with psycopg.connect(url) as connection:
        connection.execute(_staging_table(CDRS))
        connection.execute(
            "INSERT INTO staging_cdrs (doc_id, time_ms) "
            "SELECT 'n' || n, 0 FROM generate_series(0, 999) n"
        )
        (plan,) = connection.execute(
            f"EXPLAIN (FORMAT JSON) {_known_sql(CDRS)}", {"customer_id": new.id}
        ).fetchone()
    indexes = _indexes_in(plan, "cdrs_changes")
    assert indexes == ["pk_cdrs_changes"], indexes


def test_a_new_customers_change_feed_looks_each_record_up_by_its_key(
    private: tuple[str, Store],
) -> None:
    """A customer whose rows came through the HTTP batches or a broker (no ANALYZE after
    them) is unknown to every statistic. Its feed's page joined each change row to the
    customer's rows read whole, filtered by record (17 s for a page at 25,000 CDRs): each
    change row must find its record by the index, the join filtering nothing."""
    url, store = private
    known, new = store.create_customer("known"), store.create_customer("new")
    put(store, known.id, CDRS, [cdr(f"k{n}", month(1) + n * 1000) for n in range(3000)])
    store.refresh_statistics(CDRS)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("ANALYZE cdrs_changes")  # both know one customer, not the other
    put(store, new.id, CDRS, [cdr(f"n{n}", month(1) + n * 1000) for n in range(3000)])
    listing = SearchQuery(CDRS, new.id, 1000)
    sql, params = _page_sql(ChangeQuery(listing), None, FeedPosition(0), DIALECT)
    with psycopg.connect(url) as connection:
        (plan,) = connection.execute(f"EXPLAIN (FORMAT JSON) {DIALECT.sql(sql)}", params).fetchone()
    assert "Join Filter" not in orjson.dumps(plan).decode(), plan


def _indexes_in(plan: Any, table: str) -> list[str]:
    """The indexes an EXPLAIN (FORMAT JSON) plan reads ``table`` by."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("Relation Name") == table and "Index Name" in node:
                found.append(node["Index Name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plan)
    return found
