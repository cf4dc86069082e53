"""No error answer tells a client how the service is built (issue 5): no traceback, SQL,
Python module or class name, or file path, whatever failed.

Every error path of _error_paths.py is provoked against the real app over the session's
store, among them an unexpected exception and a storage error whose messages are full of
such details; then a real database failure: a store over a database without our tables.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from _error_paths import (
    ERROR_CASES,
    LEAKY_MESSAGE,
    Caller,
    ErrorCase,
    fault_client,
    new_caller,
    send,
)
from atende_logs import credentials
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.storage import Store, open_store

LEAKS = {
    "traceback": re.compile(r"Traceback|File \"|line [0-9]+, in "),
    "sql": re.compile(
        r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|JOIN|TABLE)\b|no such table|relation \"|"
        r"syntax error|sqlite|psycopg|postgres",
        re.IGNORECASE,
    ),
    "python name": re.compile(
        r"\b(atende_logs|starlette|fastapi|pydantic|uvicorn|anyio|builtins)\b|"
        r"\b[A-Z][A-Za-z]*(Error|Exception)\b|__[a-z]+__"
    ),
    "file path": re.compile(r"/(work|home|usr|tmp|etc|opt|var|src)/|\.py\b|site-packages"),
}
FIELDS = {"status", "code", "message", "parameter", "request_id"}


def leaks_in(text: str) -> list[str]:
    return [name for name, pattern in LEAKS.items() if pattern.search(text)]


def assert_clean_error(response: httpx.Response, status: int) -> None:
    """One error shape, and nothing in the body or headers that names our insides."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and set(error) <= FIELDS, error
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", error["code"]), error
    headers = " ".join(f"{name}: {value}" for name, value in response.headers.items())
    assert leaks_in(response.text) == [], response.text
    assert leaks_in(headers) == [], headers


def test_the_leak_patterns_catch_a_leak() -> None:
    """LEAKY_MESSAGE, what the fault routes raise, holds one of each: the checks can fail."""
    assert leaks_in(LEAKY_MESSAGE) == list(LEAKS)
    assert leaks_in("sqlite3.OperationalError: no such table: api_keys") == [
        "sql",
        "python name",
    ]


@pytest.fixture(scope="module")
def faulty(app_settings: Settings, store: Store) -> Iterator[TestClient]:
    yield from fault_client(app_settings, store)


@pytest.fixture(scope="module")
def caller(store: Store) -> Caller:
    return new_caller(store)


@pytest.mark.parametrize("case", ERROR_CASES)
def test_no_error_leaks_internals(faulty: TestClient, caller: Caller, case: ErrorCase) -> None:
    assert_clean_error(send(faulty, case, caller), case.status)


def test_server_errors_say_nothing_but_that_they_happened(
    faulty: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="atende_logs.http"):
        for path in ("/faults/unexpected", "/faults/storage"):
            error = faulty.get(path).json()["error"]
            assert (error["code"], error["message"]) == ("internal_error", "erro interno")
    # The details went to the server's log instead.
    unexpected, storage = [r for r in caplog.records if r.name == "atende_logs.http"]
    assert unexpected.exc_info is not None and isinstance(unexpected.exc_info[1], RuntimeError)
    assert LEAKY_MESSAGE in storage.getMessage()


def _with_search_path(url: str, schema: str) -> str:
    """``url`` with its ``options`` set to use ``schema`` only."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture
def empty_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the same backend as ``database_url``, without any of our tables."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    schema = f"atende_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _with_search_path(database_url, schema)
    finally:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


def test_a_real_database_failure_leaks_nothing(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=empty_database_url)
    store = open_store(settings)
    try:
        app = create_app(settings, store=store)
        key = credentials.generate(credentials.CUSTOMER_KEY)  # well formed: it is looked up
        with (
            TestClient(app, raise_server_exceptions=False) as client,
            caplog.at_level(logging.ERROR, logger="atende_logs.http"),
        ):
            response = client.get("/customers/cdrs/logs", headers={"x-api-key": key})
    finally:
        store.close()
    assert_clean_error(response, 500)
    # What the driver said is in the log, for the operator, with the request's id.
    (logged,) = [r for r in caplog.records if r.name == "atende_logs.http"]
    assert response.json()["error"]["request_id"] in logged.getMessage()
    assert re.search(r"OperationalError|UndefinedTable", logged.getMessage())
