"""The one place that knows which backend a database URL selects."""

from __future__ import annotations

from typing import TYPE_CHECKING

# The type only: importing config (pydantic) would slow every parsing process's start
# (docs/benchmarks-history.md, "Figures from code comments").
if TYPE_CHECKING:
    from atende_logs.config import Settings
    from atende_logs.storage.base import Store


def open_store(settings: Settings) -> Store:
    """A store for ``settings.database_url``: PostgreSQL for postgresql://, else SQLite."""
    url = settings.database_url
    if url.startswith(("postgresql://", "postgres://")):
        from atende_logs.storage.postgres import PostgresStore

        replicas = [u.strip() for u in settings.database_replica_urls.split(",") if u.strip()]
        return PostgresStore(
            url,
            settings.statement_timeout_ms,
            settings.pool_size,
            replicas,
            settings.replica_max_lag_ms,
            settings.partition_months,
            settings.partitions_ahead,
        )
    if settings.database_replica_urls.strip():
        raise ValueError("ATENDE_DATABASE_REPLICA_URLS needs a postgresql:// ATENDE_DATABASE_URL")
    if url.startswith("sqlite:///"):
        from atende_logs.storage.sqlite import SQLiteStore

        return SQLiteStore(url, settings.statement_timeout_ms)
    raise ValueError(
        f"ATENDE_DATABASE_URL must start with sqlite:/// or postgresql://, not {url[:20]!r}"
    )
