"""Settings, read once from ``ATENDE_*`` environment variables into a typed object."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
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
    database_replica_urls: str = Field(
        "",
        description="Comma-separated postgresql:// URLs of streaming replicas of "
        "ATENDE_DATABASE_URL. List pages, exports and change-feed pages are read from one "
        "that qualifies (reachable, lag within ATENDE_REPLICA_MAX_LAG_MS, and for the feed, "
        "replayed up to the client's cursor); keys, tokens and writes always use the primary.",
    )
    replica_max_lag_ms: int = Field(
        1_000,
        ge=0,
        description="A replica whose replay lags the primary by more than this is skipped "
        "until it catches up.",
    )
    partition_months: int = Field(
        1,
        ge=1,
        le=12,
        description="PostgreSQL: calendar months (UTC) per partition of each log table. "
        "Retention drops a partition whole once every customer's retention has passed it "
        "(docs/partitions.md); a change applies to partitions made after it.",
    )
    partitions_ahead: int = Field(
        3,
        ge=1,
        le=24,
        description="PostgreSQL: partitions made ready past the current one by the upkeep "
        "(`atende-logs db partitions`, the server every 6 hours). A write of another period "
        "makes that period's partition first; a record 20 years or more from now goes to the "
        "default partition.",
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
    max_query_bytes: int = Field(
        8 * 1024,
        ge=1024,
        description="Longest query string (bytes, as sent) a request may have; a longer one "
        "gets 414 before any parsing or database work. Legitimate queries stay under 1 KB.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token GET /metrics requires (`Authorization: Bearer …`, as "
        "Prometheus' `authorization` scrape setting sends it). Unset, /metrics answers only a "
        "server listening on loopback alone (ATENDE_LISTEN_HOST), and only requests that no "
        "proxy forwarded; elsewhere it answers 403.",
    )
    listen_host: str | None = Field(
        None,
        description="The address the server listens on; `atende-logs serve` sets it from "
        "--host. Only when it is a loopback address may /metrics go without a token. Unset "
        "(an app served by other means), the app assumes it is reachable from anywhere.",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1",
        description="Comma-separated addresses or networks (10.0.0.0/8) of the proxies whose "
        "X-Forwarded-For names the real client, which the per-address limits then count; "
        "`*` trusts every peer, an empty value none. Default: loopback, as uvicorn's own "
        "default (docs/api.md, Deploying behind a proxy).",
    )
    access_log_probes: bool = Field(
        False,
        description="True logs every answer of /healthz, /readyz and /metrics in the access "
        "log. By default only their failures (non-2xx) are: orchestrators and Prometheus ask "
        "every few seconds, and their successes would drown the requests of customers.",
    )
    retention_days: int = Field(
        1_825,
        ge=1,
        description="Days `atende-logs purge` keeps a customer's logs when the customer has no "
        "retention of its own (`atende-logs customers retention`). Five years: the time a "
        "consumer has to claim for damages (CDC art. 27), while call records are evidence.",
    )
    rate_limit_enabled: bool = Field(
        True,
        description="False turns off the per-key rate limits and concurrency cap (behind a "
        "gateway that limits already, or to benchmark the server itself).",
    )
    rate_limit_quota: int = Field(
        100,
        ge=1,
        description="Requests one customer key may make at once on the search endpoints (a "
        "token bucket's size); spent, they come back over ATENDE_RATE_LIMIT_WINDOW_S. A "
        "request without a well-formed key counts against its client address instead.",
    )
    rate_limit_window_s: int = Field(
        10,
        ge=1,
        le=86_400,
        description="Seconds in which a customer key's spent quota comes back in full.",
    )
    ingest_rate_limit_quota: int = Field(
        60,
        ge=1,
        description="Batches one ingest key may send at once (a token bucket's size); spent, "
        "they come back over ATENDE_INGEST_RATE_LIMIT_WINDOW_S.",
    )
    ingest_rate_limit_window_s: int = Field(
        10,
        ge=1,
        le=86_400,
        description="Seconds in which an ingest key's spent quota comes back in full.",
    )
    auth_failure_quota: int = Field(
        20,
        ge=1,
        description="401s to a well-formed but unknown or revoked key one client address may "
        "get at once (a token bucket's size; they come back over "
        "ATENDE_AUTH_FAILURE_WINDOW_S). Past it, the address's requests get 429 before any "
        "database work, except those whose key authenticated lately (in the same process, or "
        "in any with ATENDE_REDIS_URL). The address is the real client's behind a proxy of "
        "ATENDE_FORWARDED_ALLOW_IPS.",
    )
    auth_failure_window_s: int = Field(
        60,
        ge=1,
        le=86_400,
        description="Seconds in which a client address's spent failed-authentication quota "
        "comes back in full.",
    )
    rate_limit_refusal_delay_ms: int = Field(
        1_000,
        ge=0,
        le=60_000,
        description="How long a refused request waits before its 429 goes out (never past its "
        "Retry-After), so a client retrying at once costs a request per second per connection, "
        "not thousands. 0 answers at once.",
    )
    concurrent_requests_per_key: int = Field(
        4,
        ge=1,
        le=1_000,
        description="Requests of one key (without one, of one client address) that one server "
        "process runs at the same time; more get 429. An export counts while it streams.",
    )
    db_threads_per_key: int | None = Field(
        None,
        ge=1,
        le=200,
        description="Database threads one key (without one, one client address) may hold at "
        "once in a server process; its further requests wait for its own turn. Default: one "
        "less than ATENDE_DB_THREADS (at least 1), so one key never holds them all.",
    )
    export_max_seconds: int = Field(
        600,
        ge=1,
        le=86_400,
        description="Longest an export may stream; past it the response ends without its "
        "final chunk, as when an export fails midway, and the client resumes with after=id:.",
    )
    stream_heartbeat_s: float = Field(
        15.0,
        gt=0,
        le=300,
        description="Seconds between the heartbeat comments (': keep-alive') of a live tail "
        "of the change feed (Accept: text/event-stream) while no change commits.",
    )
    redis_url: str | None = Field(
        None,
        description="redis://HOST:PORT/DB whose rate-limit buckets every server process "
        "shares; unset, each process keeps its own (quotas then hold per process).",
    )
    redis_key_prefix: str = Field(
        "atende:ratelimit:",
        description="Prefix of the bucket keys in Redis, so environments can share one Redis.",
    )

    @field_validator("database_replica_urls")
    @classmethod
    def _postgres_replicas(cls, value: str) -> str:
        for url in filter(None, (part.strip() for part in value.split(","))):
            if not url.startswith(("postgresql://", "postgres://")):
                raise ValueError(f"a replica URL must start with postgresql://, not {url[:20]!r}")
        return value

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
