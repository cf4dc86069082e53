"""/metrics: what is counted, under which labels, and that the counts of a server's worker
processes add up.

The in-process app keeps its metrics in this process's memory, shared by every app the
session builds, so each test compares a scrape before and after what it does.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.app import DEFAULT_DB_THREADS
from atende_logs.http.metrics import (
    UNMATCHED_ROUTE,
    UNROUTED,
    _forget_dead_workers,
    count_rate_limited,
)
from atende_logs.models import Customer
from atende_logs.storage import Store
from bench.server import Server

REQUESTS = "atende_http_requests_total"


def _value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def _route_labels(text: str) -> set[str]:
    return {
        sample.labels["route"]
        for family in text_string_to_metric_families(text)
        if family.name == "atende_http_requests"
        for sample in family.samples
    }


@pytest.fixture(scope="module")
def client(app_settings: Settings, store: Store) -> Iterator[TestClient]:
    """The app as ``serve --host 127.0.0.1`` runs it: /metrics needs no token there."""
    settings = app_settings.model_copy(update={"listen_host": "127.0.0.1"})
    with TestClient(create_app(settings, store=store)) as test_client:
        yield test_client


def _scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.text


def test_metrics_is_prometheus_text_with_every_family(client: TestClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "atende_http_requests",
        "atende_http_request_duration_seconds",
        "atende_ingest_records",
        "atende_rate_limited",
        "atende_db_threads_in_use",
        "atende_db_threads_limit",
        "atende_db_threads_waiting",
        "atende_db_pool_connections",
        "atende_db_pool_waiting",
        "atende_db_unreachable",
    } <= families


def test_requests_are_counted_by_route_template_and_status(
    client: TestClient, store: Store, customer: Customer
) -> None:
    _, ingest_key = store.create_ingest_key(f"metrics {uuid.uuid4().hex[:8]}")
    ingest_path = f"/ingest/customers/{customer.id}/cdrs"
    before = _scrape(client)

    client.get("/healthz")
    client.get("/customers/cdrs/logs")  # no key: 401
    client.post(ingest_path, content=b"\n", headers={"x-ingest-key": ingest_key})  # no record
    client.get(ingest_path)  # 405
    client.get(f"/no/such/path/{customer.id}")
    after = _scrape(client)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    template = "/ingest/customers/{customer_id}/cdrs"
    assert delta(REQUESTS, route="/healthz", status="200") == 1
    assert delta(REQUESTS, route="/customers/cdrs/logs", status="401") == 1
    assert delta(REQUESTS, route=template, status="200") == 1
    assert delta(REQUESTS, route=template, status="405") == 1
    assert delta(REQUESTS, route=UNMATCHED_ROUTE, status="404") == 1
    histogram = "atende_http_request_duration_seconds"
    assert delta(f"{histogram}_count", route="/healthz") == 1
    assert delta(f"{histogram}_bucket", route="/healthz", le="+Inf") == 1
    labels = _route_labels(after)
    assert ingest_path not in labels and f"/no/such/path/{customer.id}" not in labels


segments = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1)


@given(st.lists(segments, min_size=1, max_size=4))
def test_any_unmatched_path_counts_under_one_label(client: TestClient, parts: list[str]) -> None:
    path = "/nothing-here/" + "/".join(quote(part, safe="") for part in parts)
    before = _scrape(client)

    client.get(path)
    after = _scrape(client)

    unmatched = sum(
        _value(after, REQUESTS, route=UNMATCHED_ROUTE, status=status)
        - _value(before, REQUESTS, route=UNMATCHED_ROUTE, status=status)
        for status in ("404", "307")
    )
    assert unmatched == 1
    assert not any(label.startswith("/nothing-here/") for label in _route_labels(after))


def test_a_request_refused_before_routing_counts_as_unrouted(
    app_settings: Settings, store: Store
) -> None:
    settings = Settings(
        database_url=app_settings.database_url,
        rate_limit_enabled=True,
        rate_limit_quota=1,
        listen_host="127.0.0.1",
    )
    with TestClient(create_app(settings, store=store)) as client:
        before = _scrape(client)
        statuses = [client.get("/customers/cdrs/logs").status_code for _ in range(2)]
        after = _scrape(client)

    assert statuses == [401, 429]  # no key: the client address's bucket, of one request
    labels = {"route": UNROUTED, "status": "429"}
    assert _value(after, REQUESTS, **labels) - _value(before, REQUESTS, **labels) == 1


def test_an_unexpected_exception_counts_as_500(app_settings: Settings, store: Store) -> None:
    app = create_app(app_settings.model_copy(update={"listen_host": "::1"}), store=store)

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom-for-metrics", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        before = _scrape(client)
        assert client.get("/boom-for-metrics").status_code == 500
        after = _scrape(client)

    labels = {"route": "/boom-for-metrics", "status": "500"}
    assert _value(after, REQUESTS, **labels) - _value(before, REQUESTS, **labels) == 1


def test_ingested_records_are_counted_by_kind_and_outcome(
    client: TestClient, store: Store, customer: Customer
) -> None:
    _, ingest_key = store.create_ingest_key(f"metrics {uuid.uuid4().hex[:8]}")
    body = b"".join(
        orjson.dumps(doc) + b"\n"
        for doc in [
            {"callid": "metrics-1", "ori_start_time": "2024-03-04T10:00:00-03:00"},
            {"callid": "metrics-2", "ori_start_time": "2024-03-04T10:01:00-03:00"},
            {"ori_start_time": "2024-03-04T10:02:00-03:00"},  # no callid: rejected
        ]
    )
    headers = {"x-ingest-key": ingest_key, "content-type": "application/x-ndjson"}
    before = _scrape(client)

    results = [
        client.post(f"/ingest/customers/{customer.id}/cdrs", content=body, headers=headers).json()
        for _ in range(2)  # the second time the two documents are replaced
    ]
    after = _scrape(client)

    assert [(r["stored"], r["replaced"], r["rejected"]) for r in results] == [(2, 0, 1), (0, 2, 1)]
    for outcome, expected in [("stored", 2), ("replaced", 2), ("rejected", 2)]:
        labels = {"kind": "cdrs", "outcome": outcome}
        counted = _value(after, "atende_ingest_records_total", **labels) - _value(
            before, "atende_ingest_records_total", **labels
        )
        assert counted == expected, outcome


def test_rate_limit_refusals_are_counted_by_policy(client: TestClient) -> None:
    before = _scrape(client)

    count_rate_limited("api")
    count_rate_limited("api")
    after = _scrape(client)

    name = "atende_rate_limited_total"
    assert _value(after, name, policy="api") - _value(before, name, policy="api") == 2


def test_a_metrics_token_is_required_once_set(app_settings: Settings, store: Store) -> None:
    settings = app_settings.model_copy(update={"metrics_token": SecretStr("s3cret-scrape")})
    with TestClient(create_app(settings, store=store)) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"authorization": "Bearer s3cret-scrapE"})
        right = client.get("/metrics", headers={"authorization": "Bearer s3cret-scrape"})
        probes = [client.get("/healthz").status_code, client.get("/readyz").status_code]

    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
    assert right.status_code == 200 and "atende_http_requests" in right.text
    assert probes == [200, 200]  # the probes never need it


def test_the_live_gauges_of_a_dead_worker_are_dropped_and_its_counts_kept(tmp_path: Path) -> None:
    with subprocess.Popen(["true"]) as exited:
        pass  # waited for: its pid names no process now
    dead_gauges = tmp_path / f"gauge_livesum_{exited.pid}.db"
    dead_counts = tmp_path / f"counter_{exited.pid}.db"
    live_gauges = tmp_path / f"gauge_livesum_{os.getpid()}.db"
    for path in (dead_gauges, dead_counts, live_gauges):
        path.write_bytes(b"")

    _forget_dead_workers(tmp_path)

    assert not dead_gauges.exists()
    assert dead_counts.exists() and live_gauges.exists()


@contextmanager
def _serving(database_url: str, tmp: Path, workers: int) -> Iterator[str]:
    """``atende-logs serve`` with ``workers`` processes; its temporary files go to ``tmp``."""
    env = {"TMPDIR": str(tmp), "PROMETHEUS_MULTIPROC_DIR": None}
    log = tmp / "server.log"
    # Its first answers are asked of /readyz: the test counts the requests to /healthz.
    with Server(database_url, log, workers=workers, env=env, ready_path="/readyz") as server:
        url = server.url
        _wait_for(lambda: httpx.get(f"{url}/readyz", timeout=1).status_code == 200, server.log)
        yield url


def _wait_for(condition: Callable[[], bool], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(
        f"not within {seconds} s; the server's log ends:\n{log.read_text()[-3000:]}"
    )


@pytest.mark.parametrize("workers", [2, 1])
def test_counts_of_the_worker_processes_add_up(
    workers: int, database_url: str, store: Store, api_key: str, tmp_path: Path
) -> None:
    healthz, searches = 40, 12
    with _serving(database_url, tmp_path, workers) as url:
        directories = list(tmp_path.glob("atende-metrics-*"))
        modes = [stat.S_IMODE(directory.stat().st_mode) for directory in directories]
        # Each worker samples its database threads at start: the limit, once per live worker.
        limit = workers * DEFAULT_DB_THREADS[store.backend]
        _wait_for(
            lambda: _value(httpx.get(f"{url}/metrics").text, "atende_db_threads_limit") == limit,
            tmp_path / "server.log",
        )
        for _ in range(healthz):  # a connection each, so that every worker takes some
            assert httpx.get(f"{url}/healthz").status_code == 200
        for _ in range(searches):
            response = httpx.get(f"{url}/customers/cdrs/logs", headers={"x-api-key": api_key})
            assert response.status_code == 200
        text = httpx.get(f"{url}/metrics").text
        pool_max = _value(text, "atende_db_pool_connections", state="max")

    assert _value(text, REQUESTS, route="/healthz", status="200") == healthz
    assert _value(text, REQUESTS, route="/customers/cdrs/logs", status="200") == searches
    duration = "atende_http_request_duration_seconds_count"
    assert _value(text, duration, route="/healthz") == healthz
    if store.backend == "postgresql":
        assert pool_max == workers * Settings().pool_size
    # Several workers share their counts through files in a private directory (the workers
    # trust what the files hold), removed when the server stops; one keeps them in memory.
    assert modes == ([0o700] if workers > 1 else [])
    assert not any(directory.exists() for directory in directories)
