"""A deeply nested record is rejected with its reason; the rest of its batch is stored
(issue 21, 2.9). A JSON array nested 3,000 levels deep was a 500: orjson cannot write past
254 levels, and only RecordError was caught. Every input path is covered: NDJSON and JSON
arrays over HTTP and through ``atende-logs import`` (its parsing processes included), and
CSV, which cannot nest."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import ijson
import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from atende_logs.cli.main import app
from atende_logs.config import get_settings
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.ingest.readers import MAX_DEPTH, TOO_DEEP, Record, read_records
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS
from atende_logs.models import Customer, SearchQuery
from atende_logs.storage import Store

KINDS = {"attendant-logs": ATTENDANT_LOGS, "cdrs": CDRS, "cards": CARDS}
DEPTHS = (MAX_DEPTH + 1, 300, 3_000)
"""Past the limit; past what orjson writes (254); past what orjson reads (1,024)."""


def nested(depth: int) -> bytes:
    """JSON text of ``depth`` levels of objects and arrays, alternating."""
    text = b'"fundo"'
    for level in range(depth):
        text = b"[" + text + b"]" if level % 2 else b'{"n":' + text + b"}"
    return text


def record(kind: str, n: int, depth: int = 1) -> bytes:
    """A valid record of ``kind`` whose ``extra`` field makes it ``depth`` levels deep."""
    doc: dict[str, Any] = {
        "attendant-logs": {"id": f"a{n}", "timestamp": 1_700_000_000_000 + n},
        "cdrs": {"callid": f"c{n}", "ori_start_time": 1_700_000_000_000 + n},
        "cards": {"id": f"k{n}", "timestamp": 1_700_000_000_000 + n, "number": "5521999999999"},
    }[kind]
    text = orjson.dumps(doc)
    return text if depth == 1 else text[:-1] + b',"extra":' + nested(depth - 1) + b"}"


def batch(kind: str) -> tuple[list[bytes], list[Any]]:
    """The records of one batch as JSON texts, and those of them that must be stored: the
    first and the last, at the deepest level allowed."""
    texts = [record(kind, 1)]
    texts += [record(kind, 2 + i, depth) for i, depth in enumerate(DEPTHS)]
    texts.append(record(kind, 9, MAX_DEPTH))
    return texts, [orjson.loads(texts[0]), orjson.loads(texts[-1])]


EXPECTED_REJECTIONS = [{"position": 2 + i, "reason": TOO_DEEP} for i in range(len(DEPTHS))]


def stored_docs(store: Store, customer_id: int, kind: str, token: str | None) -> list[Any]:
    page = store.search(SearchQuery(KINDS[kind], customer_id, 100, dialer_token=token))
    docs = [orjson.loads(item) for item in page.items]
    return [{k: v for k, v in doc.items() if k != "token"} for doc in docs]


# --- readers and the library --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_readers_and_ingest_reject_each_deep_record_alone(store: Store, fmt: str) -> None:
    texts, kept = batch("cdrs")
    body = b"\n".join(texts) + b"\n" if fmt == "ndjson" else b"[" + b",".join(texts) + b"]"
    customer = store.create_customer(f"fundo {uuid.uuid4().hex[:6]}")
    result = ingest(store, customer.id, CDRS, read_records(io.BytesIO(body)), zone=UTC)
    assert (result.stored, result.rejected) == (2, len(DEPTHS))
    assert result.as_dict()["rejections"] == EXPECTED_REJECTIONS
    assert stored_docs(store, customer.id, "cdrs", None) == kept


def test_a_library_caller_gets_the_same_rejection(store: Store) -> None:
    """Documents handed over as Python objects (no JSON text) are held to the same limit."""
    texts = [record("cards", 1), record("cards", 2, MAX_DEPTH + 1), record("cards", 3, 200)]
    docs = [orjson.loads(text) for text in texts]
    customer = store.create_customer(f"fundo {uuid.uuid4().hex[:6]}")
    dialer, _ = store.create_dialer(customer.id, "d")
    result = ingest(store, customer.id, CARDS, as_records(docs), zone=UTC, dialer_id=dialer.id)
    assert (result.stored, [r.reason for r in result.rejections]) == (1, [TOO_DEEP] * 2)


def test_an_array_element_tens_of_thousands_deep_is_one_rejection() -> None:
    """Read from the parser's plain events: with ijson.items' prefixes this element alone
    took time in the square of its depth (40,000 levels: seconds)."""
    depth = 50_000
    body = b'[{"id": 1}, {"id": 2, "x": ' + b"[" * depth + b"]" * depth + b'}, {"id": 3}]'
    assert list(read_records(io.BytesIO(body), "json")) == [
        Record(1, {"id": 1}, None),
        Record(2, None, TOO_DEEP),
        Record(3, {"id": 3}, None),
    ]


def items_reference(body: bytes) -> list[tuple[int, Any, bool]]:
    """(position, value, is an error) as the reader gave them with ijson.items, before."""
    out: list[tuple[int, Any, bool]] = []
    try:
        for value in ijson.items(io.BytesIO(body), "item", use_float=True):
            out.append((len(out) + 1, value if isinstance(value, dict) else None, False))
    except ijson.JSONError:
        out.append((len(out) + 1, None, True))
    return out


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(elements=st.lists(JSON_VALUES, max_size=6), cut=st.integers(0, 400), whole=st.booleans())
def test_elements_are_read_as_ijson_items_read_them(
    elements: list[Any], cut: int, whole: bool
) -> None:
    body = orjson.dumps(elements, option=orjson.OPT_INDENT_2)
    body = body if whole else body[: max(1, cut)]  # truncated: an error at some record
    records = list(read_records(io.BytesIO(body), "json"))
    got = [
        (r.position, r.value, r.error is not None and r.error.startswith("JSON")) for r in records
    ]
    assert got == items_reference(body)


def test_a_broken_deep_element_is_still_invalid_json() -> None:
    body = b'[{"id": 1}, {"x": ' + b"[" * 500 + b"}]"
    records = list(read_records(io.BytesIO(body), "json"))
    assert records[0] == Record(1, {"id": 1}, None)
    assert records[1].position == 2 and records[1].value is None
    assert records[1].error is not None
    assert records[1].error.startswith("JSON inválido a partir do registro 2: ")


# --- HTTP, on both databases --------------------------------------------------------------


def post(client: TestClient, key: str, path: str, body: bytes, content_type: str) -> Any:
    response = client.post(
        path, content=body, headers={"x-ingest-key": key, "content-type": content_type}
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/json"])
def test_http_ingest_rejects_deep_records_and_stores_the_rest(
    client: TestClient, store: Store, customer: Customer, kind: str, content_type: str
) -> None:
    key = store.create_ingest_key(f"fundo {uuid.uuid4().hex[:6]}")[1]
    dialer, token = store.create_dialer(customer.id, "d")
    path = f"/ingest/customers/{customer.id}/{kind}"
    if kind == "cards":
        path = f"/ingest/customers/{customer.id}/dialers/{dialer.id}/cards"
    texts, kept = batch(kind)
    array = content_type == "application/json"
    body = b"[" + b",".join(texts) + b"]" if array else b"\n".join(texts) + b"\n"
    answer = post(client, key, path, body, content_type)
    assert answer == {
        "stored": 2,
        "replaced": 0,
        "rejected": len(DEPTHS),
        "rejections": EXPECTED_REJECTIONS,
    }
    assert stored_docs(store, customer.id, kind, token if kind == "cards" else None) == kept


def test_http_csv_cards_cannot_nest_and_are_stored(
    client: TestClient, store: Store, customer: Customer
) -> None:
    """A CSV cell is text: brackets in it are characters, not levels."""
    key = store.create_ingest_key(f"fundo {uuid.uuid4().hex[:6]}")[1]
    dialer, token = store.create_dialer(customer.id, "d")
    brackets = "[" * 3_000
    body = f"id,number,timestamp,notas\nk1,5521999999999,2024-03-01T12:00:00Z,{brackets}\n"
    answer = post(
        client,
        key,
        f"/ingest/customers/{customer.id}/dialers/{dialer.id}/cards",
        body.encode(),
        "text/csv",
    )
    assert (answer["stored"], answer["rejected"]) == (1, 0)
    [doc] = stored_docs(store, customer.id, "cards", token)
    assert doc["notas"] == brackets


# --- atende-logs import -------------------------------------------------------------------


@pytest.fixture
def cli_db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ATENDE_DATABASE_URL", database_url)
    monkeypatch.delenv("ATENDE_TIMEZONE", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("fmt", "parse_workers"),
    [("ndjson", "0"), ("ndjson", "1"), ("json", "0")],  # 1: in a parsing process
)
def test_import_rejects_deep_records_and_stores_the_rest(
    cli_db: str, store: Store, tmp_path: Path, fmt: str, parse_workers: str
) -> None:
    kind = "attendant-logs"
    customer = store.create_customer(f"fundo {uuid.uuid4().hex[:6]}")
    texts, kept = batch(kind)
    path = tmp_path / f"logs.{fmt}"
    path.write_bytes(
        b"\n".join(texts) + b"\n" if fmt == "ndjson" else b"[" + b",".join(texts) + b"]"
    )
    args = ["import", kind, str(path), "--customer", str(customer.id)]
    args += ["--parse-workers", parse_workers, "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert orjson.loads(result.stdout) == {
        "stored": 2,
        "replaced": 0,
        "rejected": len(DEPTHS),
        "rejections": EXPECTED_REJECTIONS,
    }
    assert stored_docs(store, customer.id, kind, None) == kept


# --- what a stored record at the limit still allows ---------------------------------------


def test_a_record_at_the_limit_can_be_erased(store: Store, customer: Customer) -> None:
    """Erasure writes the document again as JSON and walks it recursively."""
    doc = orjson.loads(record("cdrs", 1))
    doc["extra"] = {"nota": "ligar para (11) 98765-4321", "fundo": orjson.loads(nested(62))}
    assert MAX_DEPTH == 1 + 1 + 62  # the document, extra, fundo
    result = ingest(store, customer.id, CDRS, as_records([doc]), zone=UTC)
    assert result.stored == 1
    erasure = store.erase_phone(customer.id, "11 98765-4321", "teste")
    assert erasure.counts[CDRS.name] == 1
    [stored] = stored_docs(store, customer.id, "cdrs", None)
    assert stored["extra"]["nota"] == "ligar para [apagado]"
