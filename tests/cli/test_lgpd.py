"""The LGPD commands: ``customers retention``, ``purge``, ``erase`` and ``erasures``, on both
databases. Effects are checked through the store and the rows, not only the output."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import orjson
import pytest
from click.testing import Result
from typer.testing import CliRunner

from _raw import raw_rows
from atende_logs.cli.main import app
from atende_logs.config import get_settings
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CDRS
from atende_logs.models import Customer
from atende_logs.retention import DAY_MS
from atende_logs.storage import Store

runner = CliRunner()
MISSING_ID = 2_000_000_000


@pytest.fixture(autouse=True)
def cli_db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the CLI at the session's database; read the settings afresh around each test."""
    monkeypatch.setenv("ATENDE_DATABASE_URL", database_url)
    monkeypatch.delenv("ATENDE_RETENTION_DAYS", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def run(*args: object, code: int = 0) -> Result:
    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
    return result


def run_json(*args: object) -> Any:
    result = run(*args, "--json")
    assert result.stdout.count("\n") == 1, result.stdout
    return orjson.loads(result.stdout)


def store_cdrs(store: Store, customer: Customer, ages_days: list[int]) -> None:
    now = time.time_ns() // 1_000_000
    docs = [
        {"callid": f"c{n}", "ori_start_time": now - age * DAY_MS, "ani": "5511987654321"}
        for n, age in enumerate(ages_days)
    ]
    ingest(store, customer.id, CDRS, as_records(docs), zone=UTC)


def cdr_count(url: str, customer: Customer) -> int:
    return int(
        raw_rows(url, "SELECT count(*) FROM cdrs WHERE customer_id = ?", [customer.id])[0][0]
    )


def test_customers_retention_sets_and_clears(store: Store, customer: Customer) -> None:
    assert "30 days" in run("customers", "retention", customer.id, 30).stdout
    assert store.retention_days()[customer.id] == 30
    assert "1825 days" in run("customers", "retention", customer.id).stdout
    assert customer.id not in store.retention_days()
    run("customers", "retention", customer.id, 0, code=2)  # at least a day
    missing = run("customers", "retention", MISSING_ID, 30, code=1)
    assert f"cliente {MISSING_ID} não existe" in missing.stderr


def test_purge_dry_run_then_purge(store: Store, customer: Customer, cli_db: str) -> None:
    store_cdrs(store, customer, [0, 1, 29, 31, 100, 400, 800])
    run("customers", "retention", customer.id, 30)
    dry = run_json("purge", "--customer", customer.id, "--dry-run")
    assert dry["dry_run"] is True
    counts = {item["kind"]: item["deleted"] for item in dry["purged"]}
    assert counts == {"attendant-logs": 0, "cdrs": 4, "cards": 0}
    assert cdr_count(cli_db, customer) == 7
    done = run_json("purge", "--customer", customer.id, "--batch-size", 3)
    assert [item["deleted"] for item in done["purged"]] == [0, 4, 0]
    assert {item["retention_days"] for item in done["purged"]} == {30}
    assert cdr_count(cli_db, customer) == 3
    text = run("purge", "--customer", customer.id).stdout
    assert "deleted" in text and "cdrs" in text
    run("purge", "--customer", MISSING_ID, code=1)
    run("purge", "--batch-size", 0, code=2)


def test_the_default_retention_comes_from_the_setting(
    store: Store, customer: Customer, cli_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_cdrs(store, customer, [0, 5, 50])
    monkeypatch.setenv("ATENDE_RETENTION_DAYS", "10")
    get_settings.cache_clear()
    dry = run("purge", "--customer", customer.id, "--dry-run").stdout
    assert "would delete" in dry
    run("purge", "--customer", customer.id)
    assert cdr_count(cli_db, customer) == 2


def test_erase_and_its_audit(store: Store, customer: Customer, cli_db: str) -> None:
    store_cdrs(store, customer, [0, 1, 2])
    erased = run_json(
        "erase", "--customer", customer.id, "--phone", "+55 (11) 98765-4321", "--by", "ticket 7"
    )
    assert erased == {
        "id": erased["id"],
        "customer_id": customer.id,
        "requested_by": "ticket 7",
        "erased_at_ms": erased["erased_at_ms"],
        "phone_last_digits": "4321",
        "attendant_logs": 0,
        "cdrs": 3,
        "cards": 0,
    }
    docs = raw_rows(cli_db, "SELECT doc FROM cdrs WHERE customer_id = ?", [customer.id])
    assert len(docs) == 3 and not [d for (d,) in docs if "987654321" in d]
    assert run_json("erasures", customer.id) == [erased]
    again = run("erase", "--customer", customer.id, "--phone", "011 98765-4321").stdout
    assert "ending 4321" in again and "0 CDR(s)" in again
    listed = run("erasures", customer.id).stdout
    assert "ticket 7" in listed and "987654321" not in listed
    bad = run("erase", "--customer", customer.id, "--phone", "4321", code=2)
    assert "não é um número de telefone" in bad.stderr
    run("erase", "--customer", MISSING_ID, "--phone", "11987654321", code=1)
    assert len(store.list_erasures(customer.id)) == 2
