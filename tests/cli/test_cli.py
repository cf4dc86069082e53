"""The ``atende-logs`` command line, driven through typer's CliRunner, on both databases.

Each command opens the store named by ATENDE_DATABASE_URL, so the tests point it at the
session's database and clear the cached settings around every test. Results are checked
through the store (a key authenticates, a token resolves, imported documents come back
whole), never only through what the command prints.
"""

from __future__ import annotations

import copy
import re
import shlex
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import orjson
import pytest
from alembic.script import ScriptDirectory
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import atende_logs.storage.migrations as migrations_package
from _raw import raw_rows
from atende_logs import demo_documents
from atende_logs.cli.main import app
from atende_logs.config import Settings, get_settings
from atende_logs.http import create_app
from atende_logs.ingest.demo_loading import DEMO_CUSTOMER, DEMO_DIALER, prepare_demo
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, Kind
from atende_logs.models import Customer, IngestScope, SearchQuery
from atende_logs.storage import Store, open_store

SPEC_DIR = Path(__file__).resolve().parents[2] / "src" / "atende_logs" / "http" / "examples"
MASK = "****************"
MISSING_ID = 2_000_000_000
runner = CliRunner()

Doc = dict[str, Any]


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings are cached per process: read them afresh in every test, and after it."""
    monkeypatch.delenv("ATENDE_TIMEZONE", raising=False)
    monkeypatch.delenv("ATENDE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def cli_db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the CLI at the session's database (each backend in turn)."""
    monkeypatch.setenv("ATENDE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    return database_url


def run(*args: object, code: int = 0) -> Result:
    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
    return result


def run_json(*args: object) -> Any:
    """Run a command with --json: its standard output must be exactly one JSON value."""
    result = run(*args, "--json")
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1, result.stdout
    return orjson.loads(result.stdout)


def docs_of(store: Store, customer_id: int, kind: Kind, token: str | None = None) -> list[Doc]:
    page = store.search(SearchQuery(kind, customer_id, 1000, dialer_token=token))
    assert page.total == len(page.items)
    return [orjson.loads(item) for item in page.items]


def total_of(store: Store, customer_id: int, kind: Kind, token: str | None = None) -> int:
    return store.search(SearchQuery(kind, customer_id, 1, dialer_token=token)).total


# --- customers, keys, dialers, ingest keys -------------------------------------------------


def test_customers_create_and_list(cli_db: str, store: Store) -> None:
    name = f"Cliente São João {uuid.uuid4().hex[:6]}"
    created = run_json("customers", "create", name)
    assert created == {"id": created["id"], "name": name}
    assert type(created["id"]) is int
    customer = store.get_customer(created["id"])
    assert customer is not None and customer.name == name
    listed = run_json("customers", "list")
    assert [entry for entry in listed if entry["id"] == customer.id] == [
        {"id": customer.id, "name": name, "created_at_ms": customer.created_at_ms}
    ]
    other = f"Outro {uuid.uuid4().hex[:6]}"
    text = run("customers", "create", other).stdout
    made = [c for c in store.list_customers() if c.name == other]
    assert len(made) == 1 and str(made[0].id) in text and other in text


def test_keys_create_list_revoke(cli_db: str, store: Store, customer: Customer) -> None:
    created = run_json("keys", "create", customer.id)
    assert sorted(created) == ["id", "key"]
    secret = created["key"]
    assert secret.startswith("atl_live_")
    assert store.authenticate(secret) == customer.id
    # Without --json the key is printed too, once, and it works.
    text = run("keys", "create", customer.id).stdout
    printed = re.findall(r"atl_live_[0-9A-Za-z]+", text)
    assert len(printed) == 1 and printed[0] != secret
    assert store.authenticate(printed[0]) == customer.id

    listing = run("keys", "list", customer.id, "--json").stdout
    assert secret not in listing and printed[0] not in listing
    keys = orjson.loads(listing)
    assert sorted(key["id"] for key in keys) == sorted(
        key.id for key in store.list_api_keys(customer.id)
    )
    ours = next(key for key in keys if key["id"] == created["id"])
    assert str(ours["customer_id"]) == str(customer.id)
    assert secret.startswith(ours["prefix"]) and len(ours["prefix"]) < len(secret)
    assert ours["revoked_at_ms"] is None
    assert secret not in run("keys", "list", customer.id).stdout

    run("keys", "revoke", created["id"])
    assert store.authenticate(secret) is None
    assert store.authenticate(printed[0]) == customer.id  # only that key was revoked
    revoked = next(k for k in run_json("keys", "list", customer.id) if k["id"] == created["id"])
    assert isinstance(revoked["revoked_at_ms"], int)
    run("keys", "revoke", created["id"], code=1)
    run("keys", "revoke", MISSING_ID, code=1)


def test_credentials_for_a_missing_customer_are_refused(cli_db: str, store: Store) -> None:
    for args in (("keys", "create", MISSING_ID), ("dialers", "create", MISSING_ID, "d")):
        result = runner.invoke(app, [str(arg) for arg in args])
        assert result.exit_code not in (0, None), result.stdout
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert str(MISSING_ID) in result.stderr
        assert "atl_" not in result.stdout
    assert store.list_api_keys(MISSING_ID) == []


def test_dialers_create_list_rotate(cli_db: str, store: Store, customer: Customer) -> None:
    created = run_json("dialers", "create", customer.id, "Discador Sul")
    assert sorted(created) == ["id", "token"]
    old = created["token"]
    assert old.startswith("atl_dlr_")
    found = store.find_dialer(customer.id, old)
    assert found is not None and (found.id, found.name) == (created["id"], "Discador Sul")
    listing = run("dialers", "list", customer.id, "--json").stdout
    assert old not in listing
    assert [d["id"] for d in orjson.loads(listing)] == [created["id"]]

    rotated = run_json("dialers", "rotate-token", customer.id, created["id"])
    assert rotated == {"id": created["id"], "token": rotated["token"]}
    assert rotated["token"] != old
    assert store.find_dialer(customer.id, old) is None
    assert store.find_dialer(customer.id, rotated["token"]) == store.get_dialer(
        customer.id, created["id"]
    )
    # Another customer cannot rotate it, and the current token keeps working.
    other = store.create_customer("other")
    run("dialers", "rotate-token", other.id, created["id"], code=1)
    assert store.find_dialer(customer.id, rotated["token"]) == store.get_dialer(
        customer.id, created["id"]
    )
    # Plain text output: the new token alone, and it works.
    text = run("dialers", "rotate-token", customer.id, created["id"]).stdout.strip()
    assert store.find_dialer(customer.id, text) == store.get_dialer(customer.id, created["id"])
    assert store.find_dialer(customer.id, rotated["token"]) is None


def test_ingest_keys_create_list_revoke(cli_db: str, store: Store) -> None:
    name = f"producer {uuid.uuid4().hex[:6]}"
    created = run_json("ingest-keys", "create", name, "--all-customers")
    assert sorted(created) == ["customers", "id", "key", "kinds"]
    assert (created["customers"], created["kinds"]) == ("all", "all")
    secret = created["key"]
    found = store.authenticate_ingest(secret)
    assert found is not None and found.id == created["id"]
    assert store.authenticate(secret) is None  # an ingest key cannot read
    listing = run("ingest-keys", "list", "--json").stdout
    assert secret not in listing
    ours = [k for k in orjson.loads(listing) if k["id"] == created["id"]]
    assert len(ours) == 1 and ours[0]["name"] == name and ours[0]["revoked_at_ms"] is None
    assert (ours[0]["customers"], ours[0]["kinds"]) == ("all", "all")
    run("ingest-keys", "revoke", created["id"])
    assert store.authenticate_ingest(secret) is None
    run("ingest-keys", "revoke", created["id"], code=1)


def test_ingest_keys_are_scoped_when_created(
    cli_db: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = (store.create_customer(f"scope {n}") for n in range(2))
    name = f"producer {uuid.uuid4().hex[:6]}"
    created = run_json(
        "ingest-keys", "create", name, "--customer", second.id, "--customer", first.id,
        "--kind", "cdrs",
    )  # fmt: skip
    assert created["customers"] == sorted([first.id, second.id])
    assert created["kinds"] == ["cdrs"]
    found = store.authenticate_ingest(created["key"])
    assert found is not None
    assert found.scope == IngestScope(frozenset({first.id, second.id}), frozenset({"cdrs"}))
    listed = [k for k in run_json("ingest-keys", "list") if k["id"] == created["id"]]
    assert [(k["customers"], k["kinds"]) for k in listed] == [(created["customers"], ["cdrs"])]
    # Wide enough that the customers cell stays on one line, whatever other tests left in
    # the session's database (long names, three-digit ids).
    monkeypatch.setenv("COLUMNS", "250")
    table = run("ingest-keys", "list").stdout
    assert f"{min(first.id, second.id)}, {max(first.id, second.id)}" in table
    text = run("ingest-keys", "create", name, "--customer", first.id).stdout
    assert f"for customers {first.id}; every kind" in text


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 2, "--customer ID (repeatable) or --all-customers"),
        (("--all-customers", "--customer", "1"), 2, "not both"),
        (("--all-customers", "--kind", "calls"), 2, "calls"),
        (("--customer", "2147483000"), 1, "cliente 2147483000 não existe"),
    ],
)
def test_ingest_keys_need_a_scope(
    cli_db: str, store: Store, args: tuple[str, ...], code: int, message: str
) -> None:
    before = len(store.list_ingest_keys())
    result = run("ingest-keys", "create", "unscoped", *args, code=code)
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert len(store.list_ingest_keys()) == before


def test_db_current_and_pending(cli_db: str) -> None:
    head = ScriptDirectory(str(Path(migrations_package.__file__).parent)).get_current_head()
    assert run("db", "current").stdout.strip() == head
    assert run("db", "pending").stdout == ""


# --- import -------------------------------------------------------------------------------

EXAMPLE = orjson.loads((SPEC_DIR / "example-attendant-logs.json").read_bytes())["items"][0]


def attendant_log(doc_id: str, timestamp: str, **changes: Any) -> Doc:
    doc = copy.deepcopy(EXAMPLE)
    doc.update(id=doc_id, timestamp=timestamp, **changes)
    return doc


def ndjson_case(tmp_path: Path) -> tuple[Path, list[Doc]]:
    first = attendant_log("a1", "2020-02-06T20:28:34.072Z")
    second = attendant_log("a2", "2020-02-06T21:00:00.000Z", screen="available")
    no_id = attendant_log("x", "2020-02-06T22:00:00.000Z")
    del no_id["id"]
    lines = [
        orjson.dumps(first).decode(),  # 1
        "",  # 2: blank, skipped
        '{"id": "broken", "timestamp": ',  # 3: bad JSON
        orjson.dumps(no_id).decode(),  # 4: no id
        orjson.dumps(second).decode(),  # 5
        orjson.dumps(attendant_log("a3", "ontem à tarde")).decode(),  # 6: bad time
        "[1, 2]",  # 7: not an object
    ]
    path = tmp_path / "logs.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, [first, second]


def without_reasons(summary: Doc) -> Doc:
    return summary | {"rejections": [r["position"] for r in summary["rejections"]]}


@pytest.mark.parametrize("parse_workers", ["0", "1"])
def test_import_ndjson_stores_rejects_then_replaces(
    cli_db: str, store: Store, customer: Customer, tmp_path: Path, parse_workers: str
) -> None:
    path, stored = ndjson_case(tmp_path)
    args = ("import", "attendant-logs", path, "--customer", customer.id)
    args += ("--parse-workers", parse_workers)  # in this process, and in another one
    summary = run_json(*args)
    assert without_reasons(summary) == {
        "stored": 2,
        "replaced": 0,
        "rejected": 4,
        "rejections": [3, 4, 6, 7],
    }
    reasons = {r["position"]: r["reason"] for r in summary["rejections"]}
    assert all(isinstance(reason, str) and reason.strip() for reason in reasons.values())
    assert "id" in reasons[4] and "timestamp" in reasons[6]
    assert docs_of(store, customer.id, ATTENDANT_LOGS) == stored

    again = run_json(*args)
    assert again == summary | {"stored": 0, "replaced": 2}
    assert docs_of(store, customer.id, ATTENDANT_LOGS) == stored


def test_import_text_summary_names_each_rejected_line(
    cli_db: str, store: Store, tmp_path: Path
) -> None:
    path, _ = ndjson_case(tmp_path)
    first, second = store.create_customer("json"), store.create_customer("text")
    summary = run_json("import", "attendant-logs", path, "--customer", first.id)
    text = run("import", "attendant-logs", path, "--customer", second.id).stdout
    flat = " ".join(text.split())
    for count, word in ((2, "stored"), (0, "replaced"), (4, "rejected")):
        assert re.search(rf"\b{word}\W+{count}\b|\b{count}\W+{word}\b", flat), (word, text)
    for rejection in summary["rejections"]:
        reason = re.escape(" ".join(rejection["reason"].split()))
        assert re.search(rf"\b{rejection['position']}\W+{reason}", flat), (rejection, text)
    assert total_of(store, second.id, ATTENDANT_LOGS) == 2


def test_import_json_array_latest_wins(
    cli_db: str, store: Store, customer: Customer, tmp_path: Path
) -> None:
    path, _ = ndjson_case(tmp_path)
    run_json("import", "attendant-logs", path, "--customer", customer.id)
    changed = attendant_log("a1", "2020-02-06T20:28:34.072Z", duration=42, description="almoco")
    no_id = {"timestamp": "2020-02-06T23:00:00.000Z", "screen": "pause"}
    third = attendant_log("a4", "2020-02-07T09:00:00-03:00")
    array = tmp_path / "logs.json"
    array.write_bytes(orjson.dumps([changed, no_id, third], option=orjson.OPT_INDENT_2))
    summary = run_json("import", "attendant-logs", array, "--customer", customer.id)
    assert without_reasons(summary) == {
        "stored": 1,
        "replaced": 1,
        "rejected": 1,
        "rejections": [2],
    }
    docs = docs_of(store, customer.id, ATTENDANT_LOGS)
    assert [doc["id"] for doc in docs] == ["a1", "a2", "a4"]
    assert (docs[0], docs[2]) == (changed, third)


CSV_HEADER = ["number", "status", "card_info_1", "card_info_2", "card_info_3", "timestamp"]
CSV_ROWS = [
    ["5521999999999", "to_call", "Truck", "Grade Baixa", "NÃO", "2020-01-31T14:13:29.669Z"],
    ["5521888888888", "called", "Caminhão", "Grade Alta", "SIM", "2020-01-31T14:13:29.669Z"],
    ["5521777777777", "to_call", "Van", "Grade Média", "SIM", ""],  # no time: rejected
]


def test_import_cards_csv(cli_db: str, store: Store, customer: Customer, tmp_path: Path) -> None:
    _, token = store.create_dialer(customer.id, "Discador")
    path = tmp_path / "fichas.csv"
    lines = [";".join(row) for row in [CSV_HEADER, *CSV_ROWS]]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    args = ("import", "cards", path, "--customer", customer.id, "--dialer", token)
    summary = run_json(*args)
    assert without_reasons(summary) == {
        "stored": 2,
        "replaced": 0,
        "rejected": 1,
        "rejections": [4],
    }
    expected = [dict(zip(CSV_HEADER, row, strict=True)) | {"token": MASK} for row in CSV_ROWS[:2]]
    docs = docs_of(store, customer.id, CARDS, token)
    assert sorted(docs, key=lambda doc: doc["number"]) == sorted(
        expected, key=lambda d: d["number"]
    )
    # Cards without ids are identified by (dialer, number, time): a second import replaces.
    assert without_reasons(run_json(*args)) == {
        "stored": 0,
        "replaced": 2,
        "rejected": 1,
        "rejections": [4],
    }
    assert total_of(store, customer.id, CARDS, token) == 2


def test_import_usage_errors_exit_2(
    cli_db: str, store: Store, customer: Customer, tmp_path: Path
) -> None:
    path = tmp_path / "fichas.csv"
    path.write_text("number,timestamp\n5521999999999,2020-01-31T14:13:29.669Z\n", encoding="utf-8")
    other = store.create_customer("other")
    _, foreign = store.create_dialer(other.id, "not yours")
    for dialer in ((), ("--dialer", foreign), ("--dialer", "atl_dlr_nope")):
        result = run("import", "cards", path, "--customer", customer.id, *dialer, code=2)
        assert "dialer" in result.stderr
    assert total_of(store, other.id, CARDS, foreign) == 0
    missing = tmp_path / "nowhere.ndjson"
    result = run("import", "attendant-logs", missing, "--customer", customer.id, code=2)
    assert "nowhere.ndjson" in result.stderr
    assert total_of(store, customer.id, ATTENDANT_LOGS) == 0


# --- demo ---------------------------------------------------------------------------------

CURL = re.compile(r"^curl .*$", re.MULTILINE)


def fresh_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'demo_documents.db'}"
    monkeypatch.setenv("ATENDE_DATABASE_URL", url)
    get_settings.cache_clear()
    assert "applied" in run("db", "upgrade").stdout
    assert run("db", "pending").stdout == ""
    return url


def demo_output(text: str) -> tuple[str, str, list[str]]:
    keys = re.findall(r"\batl_live_[0-9A-Za-z]+", text)
    tokens = re.findall(r"\batl_dlr_[0-9A-Za-z]+", text)
    curls = CURL.findall(text)
    assert len(curls) == 3, text
    assert keys and len(set(keys)) == 1 and tokens and len(set(tokens)) == 1, text
    return keys[0], tokens[0], curls


def kind_totals(store: Store, customer_id: int, token: str) -> tuple[int, int, int]:
    return (
        total_of(store, customer_id, ATTENDANT_LOGS),
        total_of(store, customer_id, CDRS),
        total_of(store, customer_id, CARDS, token),
    )


def test_demo_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = fresh_sqlite(tmp_path, monkeypatch)
    printed = run("demo").stdout
    key, token, curls = demo_output(printed)
    assert "http://127.0.0.1:8000/console" in printed  # the console beside the curls
    settings = Settings(database_url=url)
    store = open_store(settings)
    try:
        customers = store.list_customers()
        assert [c.name for c in customers] == [DEMO_CUSTOMER]
        customer_id = customers[0].id
        assert store.authenticate(key) == customer_id
        plan = demo_documents.default_plan()
        totals = kind_totals(store, customer_id, token)
        assert totals == (plan.attendant_logs, plan.cdrs, plan.cards)
        assert min(totals) >= 1000  # "thousands of logs of each kind"

        # The three curl commands, pasted: each answers 200 with items for this key.
        paths = set()
        with TestClient(create_app(settings, store=store)) as client:
            for line in curls:
                words = shlex.split(line)
                header = words[words.index("-H") + 1]
                assert header == f"x-api-key: {key}"
                target = urlsplit(next(w for w in words if w.startswith("http")))
                paths.add(target.path)
                response = client.get(f"{target.path}?{target.query}", headers={"x-api-key": key})
                assert response.status_code == 200, (line, response.text)
                assert response.json()["items"], line
        assert paths == {ATTENDANT_LOGS.path, CDRS.path, CARDS.path}
        assert [CARDS.path in c and f"token={token}" in c for c in curls].count(True) == 1

        # Again: nothing new is loaded; a new key and a rotated dialer token are printed.
        new_key, new_token, _ = demo_output(run("demo").stdout)
        assert [c.id for c in store.list_customers()] == [customer_id]
        assert new_key != key and store.authenticate(new_key) == customer_id
        assert new_token != token
        assert store.find_dialer(customer_id, token) is None
        rotated = store.find_dialer(customer_id, new_token)
        assert rotated is not None and rotated.name == DEMO_DIALER
        assert kind_totals(store, customer_id, new_token) == totals
    finally:
        store.close()


def test_demo_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = fresh_sqlite(tmp_path, monkeypatch)
    first = run_json("demo", "--url", "http://example.test:9000")
    plan = demo_documents.default_plan()
    assert first["loaded"] == {
        ATTENDANT_LOGS.name: plan.attendant_logs,
        CDRS.name: plan.cdrs,
        CARDS.name: plan.cards,
    }
    assert first["customer"]["name"] == DEMO_CUSTOMER
    settings = Settings(database_url=url)
    with TestClient(create_app(settings)) as client:
        for example, path in zip(
            first["examples"], (ATTENDANT_LOGS.path, CDRS.path, CARDS.path), strict=True
        ):
            target = urlsplit(example)
            assert (target.netloc, target.path) == ("example.test:9000", path)
            response = client.get(f"{path}?{target.query}", headers={"x-api-key": first["key"]})
            assert response.status_code == 200, (example, response.text)
            assert response.json()["items"], example
    assert f"token={first['token']}" in first["examples"][2]

    again = run_json("demo")
    assert again["loaded"] == {}
    assert again["customer"] == first["customer"]
    assert again["key"] != first["key"] and again["token"] != first["token"]


def test_demo_leaves_a_database_of_other_customers_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_sqlite(tmp_path, monkeypatch)
    created = run_json("customers", "create", "Cliente Real")
    text = run("demo").stdout
    assert "atl_live_" not in text and "curl" not in text
    assert run_json("demo") is None
    listed = run_json("customers", "list")
    assert [(c["id"], c["name"]) for c in listed] == [(created["id"], "Cliente Real")]


def test_prepare_demo_with_a_small_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = fresh_sqlite(tmp_path, monkeypatch)
    zone = ZoneInfo("America/Sao_Paulo")
    plan = demo_documents.DemoPlan(
        start=datetime(2018, 11, 1, tzinfo=zone), days=5, attendants=3,
        attendant_logs=120, cdrs=60, cards=25,
    )  # fmt: skip
    unique = (
        len({doc["id"] for doc in demo_documents.attendant_logs(plan)}),
        len({doc["callid"] for doc in demo_documents.cdrs(plan)}),
        len({(doc["number"], doc["timestamp"]) for doc in demo_documents.cards(plan)}),
    )
    store = open_store(Settings(database_url=url))
    try:
        first = prepare_demo(store, zone, plan)
        assert first is not None and first.loaded is not None
        loaded = {name: result.as_dict() for name, result in first.loaded.items()}
        assert loaded == {
            name: {"stored": count, "replaced": 0, "rejected": 0, "rejections": []}
            for name, count in zip(("attendant-logs", "cdrs", "cards"), unique, strict=True)
        }
        totals = kind_totals(store, first.customer.id, first.token)
        assert totals == unique
        second = prepare_demo(store, zone, plan)
        assert second is not None and second.loaded is None
        assert second.customer == first.customer and second.dialer.id == first.dialer.id
        assert second.key != first.key and store.authenticate(second.key) == first.customer.id
        assert store.find_dialer(first.customer.id, first.token) is None
        assert kind_totals(store, first.customer.id, second.token) == totals
    finally:
        store.close()


def test_serve_refuses_a_database_with_pending_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATENDE_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    get_settings.cache_clear()

    result = run("serve", "--port", "1", code=1)

    assert "pending migrations" in result.stderr
    assert "atende-logs db upgrade" in result.stderr


@pytest.mark.postgres
def test_a_large_import_of_new_documents_refreshes_postgresql_statistics(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATENDE_DATABASE_URL", postgres_url)
    monkeypatch.setattr("atende_logs.ingest.pipeline.ANALYZE_AFTER", 2)
    customer = run_json("customers", "create", "analyzed")
    path, _ = ndjson_case(tmp_path)
    # The partitions the documents went to are analyzed, not the whole partitioned table.
    count = (
        "SELECT coalesce(sum(s.analyze_count), 0) FROM pg_stat_user_tables s "
        "JOIN pg_inherits i ON i.inhrelid = s.relid WHERE i.inhparent = 'attendant_logs'::regclass"
    )
    whole = "SELECT analyze_count FROM pg_stat_user_tables WHERE relid = 'attendant_logs'::regclass"
    before, whole_before = (
        raw_rows(postgres_url, count, [])[0][0],
        raw_rows(postgres_url, whole, []),
    )
    run_json("import", "attendant-logs", path, "--customer", customer["id"])
    analyzed = raw_rows(postgres_url, count, [])[0][0]
    assert analyzed > before
    assert raw_rows(postgres_url, whole, []) == whole_before
    before = analyzed

    # The same file again stores nothing new: the statistics stand as they are.
    again = run_json("import", "attendant-logs", path, "--customer", customer["id"])
    assert again["stored"] == 0 and again["replaced"] >= 2
    assert raw_rows(postgres_url, count, [])[0][0] == before


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ATENDE_INGEST_BATCH_SIZE", "20000"), ("ATENDE_TIMEZONE", "Mars/Base")],
)
def test_a_bad_setting_is_named_instead_of_a_traceback(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    result = run("customers", "list", code=2)
    assert f"{variable}:" in result.stderr and value in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
