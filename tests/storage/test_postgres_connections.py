"""PostgreSQL's pooled connections: one-statement reads in autocommit, and nothing of that
left to the transactions that borrow the same connection next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg.pq import TransactionStatus

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
    assert one_connection.list_customers() is not None  # a statement: autocommit
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
