"""PostgreSQL's pooled connections: one-statement reads in autocommit, and nothing of that
left to the transactions that borrow the same connection next; a session's calls on one
connection, each in its own transaction."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool
import pytest
from psycopg.pq import TransactionStatus

from atende_logs.errors import QueryTimeoutError
from atende_logs.kinds import KINDS
from atende_logs.models import SearchQuery
from atende_logs.storage.postgres import PostgresStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def one_connection(postgres_url: str) -> Iterator[PostgresStore]:
    """A store whose pool holds one connection, so every checkout gets the same one."""
    store = PostgresStore(postgres_url, pool_size=1)
    try:
        yield store
    finally:
        store.close()


def test_a_statement_runs_outside_any_transaction(one_connection: PostgresStore) -> None:
    with one_connection._statement() as connection:
        connection.execute("SELECT 1").fetchone()
        assert connection.autocommit
        assert connection.info.transaction_status == TransactionStatus.IDLE


def test_reads_after_a_statement_are_one_snapshot_again(one_connection: PostgresStore) -> None:
    customer = one_connection.create_customer(f"snapshot {uuid.uuid4().hex[:8]}")
    assert customer in one_connection.list_customers()  # a statement: autocommit
    with one_connection._reading() as connection:
        isolation = connection.execute("SHOW transaction_isolation").fetchone()
        assert not connection.autocommit
        assert connection.info.transaction_status == TransactionStatus.INTRANS
    assert isolation == ("repeatable read",)
    with one_connection._writing() as connection:
        isolation = connection.execute("SHOW transaction_isolation").fetchone()
        assert connection.info.transaction_status == TransactionStatus.INTRANS
    assert isolation == ("read committed",)


def test_a_key_check_sees_a_revocation_at_once(one_connection: PostgresStore) -> None:
    customer = one_connection.create_customer("autocommit")
    info, key = one_connection.create_api_key(customer.id)
    assert one_connection.authenticate(key) == customer.id

    assert one_connection.revoke_api_key(info.id)

    assert one_connection.authenticate(key) is None


def _checkouts(store: PostgresStore) -> int:
    return store._pool.get_stats().get("requests_num", 0)


def test_a_session_is_one_checkout_for_a_key_check_and_a_page(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, pool_size=2)
    try:
        customer = store.create_customer("session")
        _, key = store.create_api_key(customer.id)
        query = SearchQuery(kind=KINDS["cdrs"], customer_id=customer.id, size=10)
        before = _checkouts(store)
        with store.session():
            assert store.authenticate(key) == customer.id
            with store.session():  # nested: still the same connection
                assert store.search(query).total == 0
        assert _checkouts(store) - before == 1
        store.authenticate(key)
        store.search(query)
        assert _checkouts(store) - before == 3  # outside a session, one each
    finally:
        store.close()


def test_a_session_gives_each_call_its_own_transaction(one_connection: PostgresStore) -> None:
    with one_connection.session():
        with one_connection._reading() as connection:
            connection.execute("SELECT 1")
            assert connection.info.transaction_status == TransactionStatus.INTRANS
        # The read committed at the end of its block: the next call may be autocommit.
        assert connection.info.transaction_status == TransactionStatus.IDLE
        with one_connection._statement() as again:
            assert again is connection and again.autocommit
            isolation = again.execute("SHOW transaction_isolation").fetchone()
    assert isolation == ("read committed",)  # the server's default: no transaction of ours


def test_a_failed_call_leaves_the_session_usable(one_connection: PostgresStore) -> None:
    customer = one_connection.create_customer(f"usable {uuid.uuid4().hex[:8]}")
    with one_connection.session():
        with pytest.raises(QueryTimeoutError), one_connection._reading() as connection:
            connection.execute("SET LOCAL statement_timeout = 1")
            connection.execute("SELECT pg_sleep(1)")
        # Rolled back: the session's connection serves the next call.
        assert customer in one_connection.list_customers()
    assert customer in one_connection.list_customers()


def test_the_pool_tests_only_a_connection_with_input_pending(
    one_connection: PostgresStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tested: list[Any] = []
    empty_query = psycopg_pool.ConnectionPool.check_connection

    def spy(connection: Any) -> None:
        tested.append(connection)
        empty_query(connection)

    customer = one_connection.create_customer(f"pending {uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(psycopg_pool.ConnectionPool, "check_connection", staticmethod(spy))
    with one_connection._statement() as connection:
        pid = connection.info.backend_pid
    one_connection.list_customers()
    assert tested == []  # healthy and idle: handed out without a round trip

    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
            assert time.monotonic() < deadline, "the backend outlived its termination"
            time.sleep(0.05)

    # The server's goodbye is pending on the dead one: it gets the full test, fails it, and
    # the pool hands out a new connection instead of an error.
    assert customer in one_connection.list_customers()
    assert tested, "the terminated connection was handed out untested"
    with one_connection._statement() as connection:
        assert connection.info.backend_pid != pid
