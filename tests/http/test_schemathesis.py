"""Schemathesis against a real running server: every operation of its own OpenAPI document,
on SQLite and on PostgreSQL.

``atende-logs serve`` runs as a subprocess (``tests/_remote.py``) over a database holding
the demo data set, with a live customer key, ingest key, dialer token and metrics token
handed to Schemathesis, so authenticated operations reach real code rather than stopping at
401. Each operation gets ``MAX_EXAMPLES`` generated cases, valid ones and ones that break
the schema (negative), and every answer must pass the standard checks: no server error,
status code, content type, headers and body as documented, negative data rejected, and
authentication not ignored (the same request without, or with a made-up, credential must
be refused). A failure means the document and the app disagree: fix whichever is wrong,
never the checks.

The server's address is known only once a fixture started it, which is what
``schemathesis.pytest.from_fixture`` is for; but in Schemathesis 4.32.5 it sets
``Node._nodeid``, which pytest 9.2 no longer has. So each operation is a parametrized test
of its own, drawing from Schemathesis's public per-operation strategies (its fuzzing phase,
positive and negative) under ``@given``, and a test keeps that list equal to the
operations the running server documents.

The suite's raised rate-limit quotas (``tests/conftest.py``) reach the server through the
environment, so the limits stay on, as in production, without ever refusing these
requests.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from _remote import Server, load
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.storage import Store

MAX_EXAMPLES = 500
TAKE_NO_INPUT = {"GET /healthz", "GET /readyz"}
"""No parameter, body or credential to vary: Hypothesis stops after the one request."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
    ignored_auth,
]


@dataclass(frozen=True)
class Served:
    """A running server and every credential its operations take."""

    url: str
    customer_id: int
    dialer_id: int
    key: str
    token: str
    ingest_key: str
    metrics_token: str


@pytest.fixture(scope="session")
def served(
    database_url: str, store: Store, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    loaded = load(store, database_url)
    customer_id = store.authenticate(loaded.key)
    assert customer_id is not None
    dialer = store.find_dialer(customer_id, loaded.token)
    assert dialer is not None
    _, ingest_key = store.create_ingest_key(f"schemathesis {secrets.token_hex(4)}")
    metrics_token = secrets.token_urlsafe(16)
    log = tmp_path_factory.mktemp("schemathesis") / "server.log"
    with pytest.MonkeyPatch.context() as patch:
        # With a token set, /metrics enforces the bearer scheme it declares.
        patch.setenv("ATENDE_METRICS_TOKEN", metrics_token)
        server = Server(database_url, Path(log))  # copies the environment now
    with server:
        yield Served(
            url=server.url,
            customer_id=customer_id,
            dialer_id=dialer.id,
            key=loaded.key,
            token=loaded.token,
            ingest_key=ingest_key,
            metrics_token=metrics_token,
        )


@pytest.fixture(scope="session")
def api_schema(served: Served) -> schemathesis.BaseSchema:
    """The running server's own document, with every credential it declares."""
    config = schemathesis.Config.from_dict(
        {
            "auth": {
                "openapi": {
                    "ApiKey": {"api_key": served.key},
                    "IngestKey": {"api_key": served.ingest_key},
                    "MetricsToken": {"bearer": served.metrics_token},
                }
            }
        }
    )
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json", config=config)


def _operations() -> list[str]:
    """Every operation the app documents, as Schemathesis labels them ("GET /healthz")."""
    paths = create_app(Settings()).openapi()["paths"]
    return sorted(f"{method.upper()} {path}" for path, item in paths.items() for method in item)


def _cases(operation: schemathesis.APIOperation, served: Served) -> st.SearchStrategy[Case]:
    """Valid cases, with the ids and dialer token that exist so that generated filters,
    formats and bodies get past the lookups to the search, the export and the ingest; and
    cases that break the schema anywhere, ids included."""
    ids = {"customer_id": served.customer_id, "dialer_id": served.dialer_id}
    real = {
        "path_parameters": {p.name: ids[p.name] for p in operation.path_parameters},
        "query": {p.name: served.token for p in operation.query if p.name == "token"},
    }
    return st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, **real),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )


def test_the_server_documents_every_operation_tested(api_schema: schemathesis.BaseSchema) -> None:
    served = {operation.ok().label for operation in api_schema.get_all_operations()}

    assert served == set(_operations())


@pytest.mark.parametrize("label", _operations())
def test_every_operation_keeps_its_documented_contract(
    api_schema: schemathesis.BaseSchema, served: Served, label: str
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None
    statuses: Counter[int] = Counter()

    @given(_cases(operation, served))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    def each_case_passes_every_check(case: Case) -> None:
        statuses[case.call_and_validate(checks=CHECKS).status_code] += 1

    each_case_passes_every_check()

    print(label, sum(statuses.values()), dict(sorted(statuses.items())))  # shown with -s
    if label not in TAKE_NO_INPUT:
        assert sum(statuses.values()) >= MAX_EXAMPLES
    # The credentials work: generated requests reached the operation's own code.
    assert any(200 <= status < 300 for status in statuses), statuses
