"""Fixtures: one contract suite, run against SQLite and PostgreSQL alike.

PostgreSQL runs where ATENDE_TEST_DATABASE_URL names one; each test session gets a schema
of its own, dropped at the end. Without the variable the PostgreSQL half is skipped, with
the reason shown, except where ATENDE_REQUIRE_POSTGRES=1 (CI): there it fails. Redis, for
the rate-limit tests, works the same way: ATENDE_TEST_REDIS_URL and ATENDE_REQUIRE_REDIS=1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.models import Customer
from atende_logs.storage import Store, open_store
from atende_logs.storage.migrate import upgrade

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _postgres_or_skip() -> str:
    url = os.environ.get("ATENDE_TEST_DATABASE_URL")
    if url:
        return url
    if os.environ.get("ATENDE_REQUIRE_POSTGRES") == "1":
        pytest.fail("ATENDE_REQUIRE_POSTGRES=1 but ATENDE_TEST_DATABASE_URL is not set")
    pytest.skip("PostgreSQL not configured: set ATENDE_TEST_DATABASE_URL to run these")


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    """A migrated PostgreSQL schema of this session's own."""
    url = _postgres_or_skip()
    schema = f"atende_test_{worker_id}_{os.getpid()}"
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            connection.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at ATENDE_TEST_DATABASE_URL is unreachable: {exc}")
    separator = "&" if "?" in url else "?"
    scoped = f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    upgrade(scoped)
    yield scoped
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _redis_or_skip() -> str:
    url = os.environ.get("ATENDE_TEST_REDIS_URL")
    if url:
        return url
    if os.environ.get("ATENDE_REQUIRE_REDIS") == "1":
        pytest.fail("ATENDE_REQUIRE_REDIS=1 but ATENDE_TEST_REDIS_URL is not set")
    pytest.skip("Redis not configured: set ATENDE_TEST_REDIS_URL to run these")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis named by ATENDE_TEST_REDIS_URL, checked to answer."""
    url = _redis_or_skip()
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=5) as client:
            client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at ATENDE_TEST_REDIS_URL is unreachable: {exc}")
    return url


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str, worker_id: str) -> Iterator[str]:
    """A key prefix of this session's own; its keys are deleted at the end."""
    prefix = f"atende_test:{worker_id}:{os.getpid()}:"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)


@pytest.fixture(scope="session", autouse=True)
def _rate_limits_out_of_reach() -> Iterator[None]:
    """The suite makes far more requests per key than the default quotas allow: every app
    and server it starts (servers inherit the environment) gets quotas it cannot reach,
    unless a test sets its own (tests/http/test_ratelimit.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATENDE_RATE_LIMIT_QUOTA", "1000000")
        patch.setenv("ATENDE_INGEST_RATE_LIMIT_QUOTA", "1000000")
        patch.setenv("ATENDE_CONCURRENT_REQUESTS_PER_KEY", "1000")
        patch.setenv("ATENDE_AUTH_FAILURE_QUOTA", "1000000")
        yield


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file of this session's own."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'atende.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    """The xdist worker name, or "main" without xdist."""
    workerinput = getattr(request.config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: every test using it runs on both."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(scope="session")
def app_settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture(scope="session")
def store(app_settings: Settings) -> Iterator[Store]:
    opened = open_store(app_settings)
    yield opened
    opened.close()


@pytest.fixture
def customer(store: Store) -> Customer:
    """A customer of this test's own: tests never see each other's rows."""
    return store.create_customer(f"test {uuid.uuid4().hex[:8]}")


@pytest.fixture
def api_key(store: Store, customer: Customer) -> str:
    return store.create_api_key(customer.id)[1]


@pytest.fixture(scope="session")
def client(app_settings: Settings, store: Store) -> Iterator[TestClient]:
    """The app in-process, lifespan on, over the session's store."""
    with TestClient(create_app(app_settings, store=store)) as test_client:
        yield test_client


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database of each kind, for tests of migrations and start-up."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    url = request.getfixturevalue("postgres_url").split("?")[0]
    schema = f"fresh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
