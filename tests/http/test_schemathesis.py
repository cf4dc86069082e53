"""Schemathesis' own CLI against a real server, as a new user would run it: every check, all
four phases (examples, coverage, fuzzing, stateful), on SQLite and on PostgreSQL.

``atende-logs serve`` runs as a subprocess (``tests/_remote.py``) over a database holding a
customer with the demo data set, its dialer, its key and an ingest key scoped to it, and with
a metrics token set; the config file hands Schemathesis each credential by the security
scheme the document names, and the ids and dialer token that exist, so generated requests
reach the search, the export and the ingest rather than stopping at 401 or 404. Any failure
means the document and the server disagree: fix whichever is wrong, never the checks. The
rules OpenAPI cannot state, which the document says in words, are told to Schemathesis by
``tests/_schemathesis_hooks.py``.

It runs as a step of its own in ``make test`` (``make schemathesis``), bounded to
``MAX_EXAMPLES`` cases per operation and phase with a fixed seed (``SEED``; set
``ATENDE_SCHEMATHESIS_SEED`` to explore others). The suite's raised rate-limit quotas
(``tests/conftest.py``) reach the server through the environment, so the limits stay on,
as in production, without ever refusing these requests.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from _remote import Server, load
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.models import IngestScope
from atende_logs.storage import Store

MAX_EXAMPLES = 50
SEED = int(os.environ.get("ATENDE_SCHEMATHESIS_SEED", "15"))
PHASES = "examples,coverage,fuzzing,stateful"
TESTS = Path(__file__).resolve().parent.parent
DEADLINE_S = 900
Failure = tuple[str, str, str]


def _config(
    customer_id: int, dialer_id: int, key: str, token: str, ingest_key: str, metrics_token: str
) -> str:
    """schemathesis.toml: each credential by its scheme's name in the document, and the
    ids and dialer token that exist (a made-up one gets 404, which says nothing more)."""
    return f"""
[auth.openapi.ApiKey]
api_key = "{key}"

[auth.openapi.IngestKey]
api_key = "{ingest_key}"

[auth.openapi.MetricsToken]
bearer = "{metrics_token}"

[parameters]
"path.customer_id" = {customer_id}
"path.dialer_id" = {dialer_id}
"query.token" = "{token}"
"header.x-dialer-token" = "{token}"
"""


def test_the_server_keeps_its_openapi_document(
    database_url: str, store: Store, tmp_path: Path
) -> None:
    loaded = load(store, database_url)
    customer_id = store.authenticate(loaded.key)
    assert customer_id is not None
    dialer = store.find_dialer(customer_id, loaded.token)
    assert dialer is not None
    scope = IngestScope(customers=frozenset({customer_id}))
    _, ingest_key = store.create_ingest_key(f"schemathesis {secrets.token_hex(4)}", scope)
    metrics_token = secrets.token_urlsafe(16)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        _config(customer_id, dialer.id, loaded.key, loaded.token, ingest_key, metrics_token)
    )
    with pytest.MonkeyPatch.context() as patch:
        # With a token set, /metrics declares and enforces its bearer scheme.
        patch.setenv("ATENDE_METRICS_TOKEN", metrics_token)
        server = Server(database_url, tmp_path / "server.log")  # copies the environment now
    with server:
        run = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file",
                str(config),
                "run",
                f"{server.url}/openapi.json",
                "--checks=all",
                f"--phases={PHASES}",
                f"--max-examples={MAX_EXAMPLES}",
                f"--seed={SEED}",
                "--no-color",
                "--report=ndjson",
                f"--report-ndjson-path={tmp_path / 'events.ndjson'}",
            ],
            cwd=tmp_path,  # its cache and reports stay out of the tree
            env={
                **os.environ,
                "PYTHONPATH": str(TESTS),
                "SCHEMATHESIS_HOOKS": "_schemathesis_hooks",
            },
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )
    report = run.stdout + run.stderr
    print(report)  # shown with -s, and on failure
    tested, failures = _outcome(tmp_path / "events.ndjson")

    # Every operation the document declares, each answering 2xx to some requests: the
    # credentials and ids worked, and generated requests reached its code.
    assert set(tested) == _operations()
    assert {label for label, statuses in tested.items() if statuses & _SUCCESS} == set(tested)
    assert failures == set(), report[-30_000:]


def _operations() -> set[str]:
    """Every operation the app documents, as Schemathesis labels them ("GET /healthz")."""
    paths = create_app(Settings()).openapi()["paths"]
    return {f"{method.upper()} {path}" for path, item in paths.items() for method in item}


_SUCCESS = set(range(200, 300))


def _outcome(events: Path) -> tuple[dict[str, set[int]], set[Failure]]:
    """The operations a run tested with the statuses they answered, and its failures:
    (operation, code, the message's last line, which names what was wrong), from its
    NDJSON event stream."""
    tested: dict[str, set[int]] = {}
    failures: set[Failure] = set()
    for line in events.read_text().splitlines():
        scenario = json.loads(line).get("ScenarioFinished")
        if scenario is None or scenario["status"] == "skip":
            continue
        recorder = scenario["recorder"]
        if scenario["phase"] != "stateful":  # whose scenario is the chain of operations
            statuses = tested.setdefault(recorder["label"], set())
            for interaction in recorder["interactions"].values():
                if interaction.get("response"):
                    statuses.add(interaction["response"]["status_code"])
        for checks in recorder["checks"].values():
            for check in checks:
                if check["status"] == "failure":
                    failure = check["failure_info"]["failure"]
                    detail = failure["message"].splitlines()[-1]
                    failures.add((failure["operation"], failure["code"], detail))
    return tested, failures
