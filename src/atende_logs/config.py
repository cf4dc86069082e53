"""Settings, read once from ``ATENDE_*`` environment variables into a typed object."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///atende-logs.db"


class Settings(BaseSettings):
    """Every setting of the service. Each field documents itself in ``docs/settings.md``."""

    model_config = SettingsConfigDict(env_prefix="ATENDE_", frozen=True)

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="Where the logs live: sqlite:///PATH (the default, a file in the working "
        "directory) or postgresql://USER@HOST:PORT/DB.",
    )
    timezone: str = Field(
        "America/Sao_Paulo",
        description="Zone in which dates and offset-less datetimes are read when a request "
        "has no tz parameter, and offset-less times in ingested documents.",
    )
    statement_timeout_ms: int = Field(
        10_000, ge=100, description="Longest a single query may run before it answers 503."
    )
    pool_size: int = Field(
        8, ge=1, le=200, description="PostgreSQL connections the server keeps open at most."
    )
    db_threads: int | None = Field(
        None,
        ge=1,
        le=200,
        description="Requests of one server process that run database work at the same time; "
        "the others queue. Default: 2 on SQLite, 4 on PostgreSQL, the best of 1 to 8 in the "
        "benchmark on 2 cores (docs/benchmarks.md): more threads only contend for the GIL.",
    )
    ingest_max_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Largest body the HTTP ingest endpoints accept; a larger one gets 413.",
    )
    ingest_max_records: int = Field(
        10_000, ge=1, description="Most records one HTTP ingest batch may hold; more gets 413."
    )
    ingest_batch_size: int = Field(
        1_000, ge=1, le=10_000, description="Records written per database transaction on ingest."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone: {value!r}") from exc
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
