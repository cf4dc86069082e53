"""What /readyz and /metrics ask a store: the schema revision the database records, and the
state of its connection pool, on both databases."""

from __future__ import annotations

from _raw import stamp
from atende_logs.config import Settings
from atende_logs.storage import open_store
from atende_logs.storage.base import PoolStats
from atende_logs.storage.migrate import current, pending, upgrade

NEWER = "9001_from_a_newer_release"


def _revision_of(url: str) -> str | None:
    store = open_store(Settings(database_url=url))
    try:
        return store.schema_revision()
    finally:
        store.close()


def test_schema_revision_follows_the_migrations(fresh_url: str) -> None:
    every = pending(fresh_url)
    unmigrated = _revision_of(fresh_url)
    upgrade(fresh_url, every[-2])
    behind = _revision_of(fresh_url)
    upgrade(fresh_url)
    head, alembic_says = _revision_of(fresh_url), current(fresh_url)
    stamp(fresh_url, NEWER)

    assert unmigrated is None
    assert behind == every[-2]
    assert head == every[-1] == alembic_says
    assert _revision_of(fresh_url) == NEWER  # an id this code does not know is handed back


def test_pool_stats_of_each_store(database_url: str) -> None:
    store = open_store(Settings(database_url=database_url, pool_size=3))
    try:
        if store.backend == "sqlite":
            assert store.pool_stats() is None  # a connection per thread, no pool
            return
        idle = store.pool_stats()
        with store._reading():  # type: ignore[attr-defined]  # one connection lent out
            lending = store.pool_stats()
        returned = store.pool_stats()
    finally:
        store.close()

    assert isinstance(idle, PoolStats) and isinstance(lending, PoolStats)
    assert (idle.max_size, idle.in_use, idle.waiting) == (3, 0, 0)
    assert 1 <= idle.size <= 3 and idle.available == idle.size
    assert lending.in_use == 1 and lending.size == lending.available + 1
    assert returned is not None and returned.in_use == 0
