"""Ingestion end to end: the library path (ingest.batch.ingest) and the HTTP batch endpoints.

Idempotency, replacement, rejections with positions, card ids and token masking, the HTTP
status codes (401, 404, 413, 415) and documents stored whole, on both databases.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from fastapi.testclient import TestClient

from _raw import raw_rows, raw_write, sqlite_files_hold
from atende_logs.config import Settings
from atende_logs.formats import Format
from atende_logs.http import create_app
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.ingest.readers import read_records
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS
from atende_logs.models import Customer
from atende_logs.storage import Store

ZONE = ZoneInfo("America/Sao_Paulo")
MASK = "****************"
NDJSON = "application/x-ndjson"
KIND = {"attendant-logs": ATTENDANT_LOGS, "cdrs": CDRS, "cards": CARDS}
EMPTY = {"total": 0, "after": None, "items": []}


# Helpers ---------------------------------------------------------------------------------


def ms(moment: str) -> int:
    """Epoch milliseconds of an ISO-8601 datetime with offset, computed exactly."""
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def attendant(n: int, **extra: Any) -> dict[str, Any]:
    """An attendant log whose time grows with n."""
    moment = f"2024-03-01T12:{n // 60:02d}:{n % 60:02d}.{n % 1000:03d}Z"
    return {"id": f"log-{n}", "timestamp": moment, "kind": "status", **extra}


def cdr(n: int, **extra: Any) -> dict[str, Any]:
    """A CDR whose start time grows with n (whole seconds, -03:00 as the platform sends)."""
    moment = f"2020-01-27T19:{n // 60:02d}:{n % 60:02d}.000-03:00"
    return {"callid": str(69709941 + n), "ori_start_time": moment, "has_audio": False, **extra}


def card(n: int, **extra: Any) -> dict[str, Any]:
    moment = f"2020-01-31T14:13:{n % 60:02d}.669Z"
    return {"number": f"55219999{n:05d}", "status": "to_call", "timestamp": moment, **extra}


MAKERS = {"attendant-logs": attendant, "cdrs": cdr}
TIME_OF = {"attendant-logs": "timestamp", "cdrs": "ori_start_time", "cards": "timestamp"}
ID_OF = {"attendant-logs": "id", "cdrs": "callid"}


def ndjson(*docs: Any) -> bytes:
    return b"".join(orjson.dumps(doc) + b"\n" for doc in docs)


def counts(stored: int = 0, replaced: int = 0) -> dict[str, Any]:
    """An ingest answer without rejections."""
    return {"stored": stored, "replaced": replaced, "rejected": 0, "rejections": []}


def page_of(kind: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole listing expected for ``docs`` (distinct times), computed independently."""
    field = TIME_OF[kind]
    ordered = sorted(docs, key=lambda doc: ms(doc[field]))
    after = ms(ordered[-1][field]) if ordered else None
    return {"total": len(ordered), "after": after, "items": ordered}


def masked(*docs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**doc, "token": MASK} for doc in docs]


@dataclass
class Env:
    """One test's customer, its keys and dialer, and the way documents go in."""

    client: TestClient
    store: Store
    customer_id: int
    api_key: str
    ingest_key: str
    dialer_id: int
    token: str
    via: str = "http"

    def post(
        self,
        kind: str,
        body: bytes | Iterator[bytes],
        content_type: str = NDJSON,
        *,
        client: TestClient | None = None,
        customer_id: int | None = None,
        dialer_id: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        customer = self.customer_id if customer_id is None else customer_id
        path = f"/ingest/customers/{customer}/{kind}"
        if kind == "cards":
            dialer = self.dialer_id if dialer_id is None else dialer_id
            path = f"/ingest/customers/{customer}/dialers/{dialer}/cards"
        sent = {"x-ingest-key": self.ingest_key} if headers is None else headers
        return (client or self.client).post(
            path, content=body, headers={"content-type": content_type, **sent}
        )

    def send(
        self, kind: str, body: bytes, content_type: str = NDJSON, dialer_id: int | None = None
    ) -> dict[str, Any]:
        """Ingest over HTTP or through the library; both answer the same dict."""
        if self.via == "http":
            response = self.post(kind, body, content_type, dialer_id=dialer_id)
            assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            return answer
        fmt = Format.CSV if content_type == "text/csv" else None
        records = read_records(io.BytesIO(body), fmt)
        dialer = (dialer_id or self.dialer_id) if kind == "cards" else None
        result = ingest(
            self.store, self.customer_id, KIND[kind], records, zone=ZONE, dialer_id=dialer
        )
        return result.as_dict()

    def list(self, kind: str, client: TestClient | None = None, **params: Any) -> dict[str, Any]:
        """The whole listing (one page of up to 1000) as this customer sees it."""
        if kind == "cards":
            params.setdefault("token", self.token)
        response = (client or self.client).get(
            KIND[kind].path, params={"size": 1000, **params}, headers={"x-api-key": self.api_key}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def env(client: TestClient, store: Store, customer: Customer, api_key: str) -> Env:
    ingest_key = store.create_ingest_key(f"producer {uuid.uuid4().hex[:8]}")[1]
    dialer, token = store.create_dialer(customer.id, "discador")
    return Env(client, store, customer.id, api_key, ingest_key, dialer.id, token)


@pytest.fixture(params=["http", "library"])
def both(request: pytest.FixtureRequest, env: Env) -> Env:
    """``env``, once ingesting over HTTP and once through ingest.batch.ingest."""
    env.via = request.param
    return env


# Idempotency and replacement -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["attendant-logs", "cdrs"])
def test_same_batch_twice_is_stored_once(both: Env, kind: str) -> None:
    docs = [MAKERS[kind](n) for n in range(5)]
    assert both.send(kind, ndjson(*docs)) == counts(stored=5)
    assert both.send(kind, ndjson(*docs)) == counts(replaced=5)
    assert both.list(kind) == page_of(kind, docs)


def test_a_stored_value_its_document_no_longer_gives_is_written_again(
    both: Env, database_url: str
) -> None:
    # Unchanged documents are not rewritten (storage._common.upsert_sql), but the test of
    # "unchanged" is every stored column, not the document alone: a filter value stored by
    # a release that read the field otherwise is corrected by sending the document again.
    doc = attendant(1, screen="busy")
    both.send("attendant-logs", ndjson(doc))
    raw_write(
        database_url,
        "UPDATE attendant_logs SET screen = 'stale' WHERE customer_id = ? AND doc_id = ?",
        [both.customer_id, doc["id"]],
    )
    assert both.list("attendant-logs", screen="busy") == EMPTY
    assert both.send("attendant-logs", ndjson(doc)) == counts(replaced=1)
    assert both.list("attendant-logs", screen="busy") == page_of("attendant-logs", [doc])
    assert both.list("attendant-logs", screen="stale") == EMPTY


def test_cdr_sent_again_replaces_the_old_version(both: Env) -> None:
    before = cdr(1, has_audio=False, audio_processing_state="processing", public_audio_url=None)
    other = cdr(2)
    after = cdr(1, has_audio=True, audio_processing_state="idle", public_audio_url="https://a/1")
    assert both.send("cdrs", ndjson(before, other)) == counts(stored=2)
    assert both.send("cdrs", ndjson(after)) == counts(replaced=1)
    assert both.list("cdrs") == page_of("cdrs", [after, other])
    assert both.list("cdrs", call_id=before["callid"]) == page_of("cdrs", [after])


def test_replacement_moves_time_and_filter_values(both: Env) -> None:
    old = attendant(1, screen="ringing", timestamp="2024-03-01T12:00:00.000Z")
    new = attendant(1, screen="busy", timestamp="2024-03-05T12:00:00.000Z")
    both.send("attendant-logs", ndjson(old))
    assert both.send("attendant-logs", ndjson(new)) == counts(replaced=1)
    assert both.list("attendant-logs", screen="ringing") == EMPTY
    assert both.list("attendant-logs", end_at="2024-03-02") == EMPTY
    assert both.list("attendant-logs", screen="busy") == page_of("attendant-logs", [new])


@pytest.mark.parametrize("kind", ["attendant-logs", "cdrs"])
def test_duplicates_in_one_batch_last_wins(both: Env, kind: str) -> None:
    make = MAKERS[kind]
    first, other, last = make(1, version=1), make(2), make(1, version=2)
    assert both.send(kind, ndjson(first, other, last)) == counts(stored=2, replaced=1)
    assert both.list(kind) == page_of(kind, [last, other])


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_library_ids_across_batch_boundaries(env: Env, batch_size: int) -> None:
    order = [1, 2, 3, 1, 4, 2, 1, 5, 5]
    docs = [cdr(n, version=position) for position, n in enumerate(order)]
    latest = {doc["callid"]: doc for doc in docs}
    written: list[int] = []

    def progress(partial: Any) -> None:
        written.append(partial.stored + partial.replaced)

    def run() -> dict[str, Any]:
        records = as_records([dict(doc) for doc in docs])
        options: dict[str, Any] = {"zone": ZONE, "batch_size": batch_size, "on_batch": progress}
        return ingest(env.store, env.customer_id, CDRS, records, **options).as_dict()

    assert run() == counts(stored=len(latest), replaced=len(docs) - len(latest))
    assert env.list("cdrs") == page_of("cdrs", list(latest.values()))
    assert written and written[-1] == len(docs)
    assert run() == counts(replaced=len(docs))
    assert env.list("cdrs") == page_of("cdrs", list(latest.values()))


# Rejections ------------------------------------------------------------------------------


def bad_lines(kind: str) -> list[tuple[bytes, str]]:
    """(line, outcome) for one NDJSON batch: "ok", "blank", or the field the reason names
    ("" when the line is not a JSON object at all)."""
    make, key, when = MAKERS[kind], ID_OF[kind], TIME_OF[kind]

    def without(doc: dict[str, Any], name: str) -> bytes:
        return orjson.dumps({k: v for k, v in doc.items() if k != name})

    return [
        (orjson.dumps(make(1)), "ok"),
        (b"", "blank"),
        (without(make(2), key), key),
        (b"   \t", "blank"),
        (without(make(3), when), when),
        (orjson.dumps(make(4, **{when: "ontem às 10h"})), when),
        (orjson.dumps(make(5, **{when: None})), when),
        (orjson.dumps(make(6)), "ok"),
        (orjson.dumps({**make(7), key: True}), key),
        (orjson.dumps({**make(8), key: {"value": "x"}}), key),
        (orjson.dumps({**make(9), key: ""}), key),
        (orjson.dumps({**make(10), key: None}), key),
        (b'{"' + key.encode() + b'": "x", ', ""),
        (b"[1, 2]", ""),
        (b'"texto"', ""),
        (b"42", ""),
        (orjson.dumps(make(11)), "ok"),
    ]


@pytest.mark.parametrize("kind", ["attendant-logs", "cdrs"])
def test_ndjson_rejections_have_line_and_reason(both: Env, kind: str) -> None:
    lines = bad_lines(kind)
    answer = both.send(kind, b"\n".join(content for content, _ in lines) + b"\n")
    expected = [
        (number, outcome)
        for number, (_, outcome) in enumerate(lines, start=1)
        if outcome not in ("ok", "blank")
    ]
    valid = [orjson.loads(content) for content, outcome in lines if outcome == "ok"]
    summary = (answer["stored"], answer["replaced"], answer["rejected"])
    assert summary == (len(valid), 0, len(expected))
    assert [item["position"] for item in answer["rejections"]] == [n for n, _ in expected]
    for item, (number, field) in zip(answer["rejections"], expected, strict=True):
        assert isinstance(item["reason"], str) and item["reason"].strip(), item
        if field:
            assert re.search(rf"\b{field}\b", item["reason"]), (number, item)
    assert both.list(kind) == page_of(kind, valid)


def test_json_array_rejections_count_elements(both: Env) -> None:
    good = [cdr(1), cdr(2)]
    elements: list[Any] = [
        good[0],
        {k: v for k, v in cdr(3).items() if k != "callid"},
        "não é objeto",
        good[1],
        {**cdr(4), "ori_start_time": "2020-13-45T99:00:00"},
    ]
    # Pretty-printed: line numbers and element numbers differ.
    answer = both.send(
        "cdrs", orjson.dumps(elements, option=orjson.OPT_INDENT_2), "application/json"
    )
    assert [item["position"] for item in answer["rejections"]] == [2, 3, 5]
    assert re.search(r"\bcallid\b", answer["rejections"][0]["reason"])
    assert re.search(r"\bori_start_time\b", answer["rejections"][2]["reason"])
    assert (answer["stored"], answer["replaced"], answer["rejected"]) == (2, 0, 3)
    assert both.list("cdrs") == page_of("cdrs", good)


# Cards -----------------------------------------------------------------------------------


def test_card_without_id_is_identified_by_number_and_time(both: Env) -> None:
    first = card(1, status="to_call")
    again = card(1, status="called")
    later = card(1, status="to_call", timestamp="2020-02-01T10:00:00.000Z")
    assert both.send("cards", ndjson(first)) == counts(stored=1)
    assert both.send("cards", ndjson(again)) == counts(replaced=1)
    assert both.send("cards", ndjson(later)) == counts(stored=1)
    assert both.list("cards") == page_of("cards", masked(again, later))


def test_card_id_derivation_includes_the_dialer(both: Env) -> None:
    other, other_token = both.store.create_dialer(both.customer_id, "d2")
    doc = card(7)
    assert both.send("cards", ndjson(doc)) == counts(stored=1)
    assert both.send("cards", ndjson(doc), dialer_id=other.id) == counts(stored=1)
    assert both.list("cards") == page_of("cards", masked(doc))
    assert both.list("cards", token=other_token) == page_of("cards", masked(doc))


def test_card_with_id_is_identified_by_it(both: Env) -> None:
    old, new = card(1, id="ficha-1"), card(2, id="ficha-1", status="called")
    both.send("cards", ndjson(old))
    assert both.send("cards", ndjson(new)) == counts(replaced=1)
    assert both.list("cards") == page_of("cards", masked(new))


def assert_not_stored(database_url: str, customer_id: int, secret: str) -> None:
    """``secret`` is in no column of the customer's cards, nor in the SQLite files."""
    rows = raw_rows(database_url, "SELECT * FROM cards WHERE customer_id = ?", [customer_id])
    stored = "\n".join(str(value) for row in rows for value in row)
    assert MASK in stored
    assert secret not in stored
    if database_url.startswith("sqlite:///"):
        assert not sqlite_files_hold(database_url, secret)


@pytest.mark.parametrize("shape", ["secret", "dialer token", "nested", "number"])
def test_card_token_is_masked_stored_and_served(both: Env, database_url: str, shape: str) -> None:
    secret = "lpnIf8ACeW70YtQN" + uuid.uuid4().hex
    number = uuid.uuid4().int % 10**15 + 10**15
    value: Any = {
        "secret": secret,
        "dialer token": both.token,
        "nested": {"token": secret, "list": [secret]},
        "number": number,
    }[shape]
    secret = {"dialer token": both.token, "number": str(number)}.get(shape, secret)
    doc = card(3, card_info_1="Truck", token=value)
    assert both.send("cards", ndjson(doc)) == counts(stored=1)
    response = both.client.get(
        CARDS.path, params={"token": both.token}, headers={"x-api-key": both.api_key}
    )
    assert response.json() == page_of("cards", masked(doc))
    assert secret not in response.text
    assert_not_stored(database_url, both.customer_id, secret)


def test_csv_cards_over_http(env: Env, database_url: str) -> None:
    header = ["number", "status", "card_info_1", "card_info_2", "card_info_3", "timestamp", "token"]
    rows = [
        ["5521999999999", "to_call", "Caminhão", "Grade Baixa", "NÃO", "2020-01-31T14:13:29.669Z"],
        ["5521988888888", "called", "Ônibus", "São João", "ação", "2020-01-31T14:13:30.001Z"],
    ]
    rows = [[*row, "atl_dlr_secretinthecsvfile0001"] for row in rows]
    text = "\r\n".join(";".join(row) for row in [header, *rows]) + "\r\n"
    response = env.post("cards", b"\xef\xbb\xbf" + text.encode(), "text/csv")
    assert response.status_code == 200, response.text
    assert response.json() == counts(stored=2)
    expected = masked(*(dict(zip(header, row, strict=True)) for row in rows))
    assert env.list("cards") == page_of("cards", expected)
    assert env.list("cards", card_info_3="NÃO") == page_of("cards", expected[:1])
    assert_not_stored(database_url, env.customer_id, "secretinthecsvfile")


# HTTP: credentials, scope, limits, formats ----------------------------------------------


def one_doc(kind: str) -> bytes:
    return ndjson(card(1) if kind == "cards" else MAKERS[kind](1))


@pytest.mark.parametrize("kind", ["attendant-logs", "cdrs", "cards"])
def test_bad_ingest_keys_get_the_same_401(env: Env, kind: str) -> None:
    revoked_info, revoked = env.store.create_ingest_key("to revoke")
    assert env.store.revoke_ingest_key(revoked_info.id)
    other = env.store.create_ingest_key("other")[1]
    mistyped = other[:-1] + ("A" if other[-1] != "A" else "B")
    headers: list[dict[str, str]] = [
        {},
        {"x-api-key": env.api_key},
        *({"x-ingest-key": key} for key in ("", "nada", mistyped, revoked, env.api_key)),
        {"x-ingest-key": env.token},
    ]
    answers = []
    for sent in headers:
        response = env.post(kind, one_doc(kind), headers=sent)
        assert response.status_code == 401, (sent, response.text)
        assert response.headers["content-type"].startswith("application/json")
        answer = response.json()
        assert answer["error"].pop("request_id") == response.headers["x-request-id"]
        answers.append(answer)
    assert answers[0]["error"]["status"] == 401
    assert all(answer == answers[0] for answer in answers)
    assert env.list(kind) == EMPTY
    assert env.post(kind, one_doc(kind), headers={"x-ingest-key": other}).status_code == 200


def test_ingest_key_cannot_read(env: Env) -> None:
    assert env.post("cdrs", ndjson(cdr(1))).status_code == 200
    refused = env.client.get(CDRS.path, headers={"x-api-key": env.ingest_key})
    missing = env.client.get(CDRS.path)
    assert refused.status_code == missing.status_code == 401
    # The same answer, but for each request's own id.
    unlike = {"request_id": ""}
    assert refused.json()["error"] | unlike == missing.json()["error"] | unlike
    assert env.list("cdrs")["total"] == 1


def test_unknown_customer_and_foreign_dialer_get_404(env: Env) -> None:
    newest = max(known.id for known in env.store.list_customers())
    unknown = env.post("cdrs", ndjson(cdr(1)), customer_id=newest + 1000)
    assert (unknown.status_code, unknown.json()["error"]["status"]) == (404, 404)
    other = env.store.create_customer("outro")
    foreign, foreign_token = env.store.create_dialer(other.id, "alheio")
    response = env.post("cards", ndjson(card(1)), dialer_id=foreign.id)
    assert (response.status_code, response.json()["error"]["status"]) == (404, 404)
    assert env.post("cards", ndjson(card(1)), dialer_id=foreign.id + 1000).status_code == 404
    other_env = Env(**{**vars(env), "api_key": env.store.create_api_key(other.id)[1]})
    assert other_env.list("cards", token=foreign_token) == EMPTY
    assert env.list("cards") == EMPTY


@pytest.fixture
def limited(database_url: str, store: Store) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, ingest_max_bytes=2048, ingest_max_records=3)
    with TestClient(create_app(settings, store=store)) as small:
        yield small


def test_body_over_the_byte_limit_gets_413_and_stores_nothing(
    env: Env, limited: TestClient
) -> None:
    fits = ndjson(cdr(1, pad="x" * 1500))
    too_big = ndjson(cdr(2), cdr(3, pad="x" * 2100))
    assert len(fits) <= 2048 < len(too_big)
    response = env.post("cdrs", too_big, client=limited)
    assert (response.status_code, response.json()["error"]["status"]) == (413, 413)

    def chunks() -> Iterator[bytes]:  # no content-length: the limit holds while streaming
        yield ndjson(cdr(4))
        yield ndjson(cdr(5, pad="y" * 2100))

    assert env.post("cdrs", chunks(), client=limited).status_code == 413
    assert env.list("cdrs", client=limited) == EMPTY
    assert env.post("cdrs", fits, client=limited).json() == counts(stored=1)


@pytest.mark.parametrize("count", [4, 7])
def test_too_many_records_gets_413_and_stores_nothing(
    env: Env, limited: TestClient, count: int
) -> None:
    docs = [cdr(n) for n in range(count)]
    response = env.post("cdrs", ndjson(*docs), client=limited)
    assert (response.status_code, response.json()["error"]["status"]) == (413, 413)
    assert env.list("cdrs", client=limited) == EMPTY
    assert env.post("cdrs", ndjson(*docs[:3]), client=limited).json() == counts(stored=3)


UNSUPPORTED = [(kind, "text/plain") for kind in KIND] + [
    ("cdrs", "text/csv"), ("attendant-logs", "text/csv"), ("cdrs", "application/xml")
]  # fmt: skip


@pytest.mark.parametrize(("kind", "content_type"), UNSUPPORTED)
def test_unsupported_content_type_gets_415(env: Env, kind: str, content_type: str) -> None:
    response = env.post(kind, one_doc(kind), content_type)
    assert (response.status_code, response.json()["error"]["status"]) == (415, 415)
    assert env.list(kind) == EMPTY


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_json_array_body(env: Env, content_type: str) -> None:
    docs = [attendant(n) for n in range(3)]
    response = env.post("attendant-logs", orjson.dumps(docs), content_type)
    assert response.json() == counts(stored=3)
    assert env.list("attendant-logs") == page_of("attendant-logs", docs)


@pytest.mark.parametrize(
    ("body", "content_type"), [(b"\n\n  \n", NDJSON), (b"[]", "application/json")]
)
def test_a_body_of_no_records_stores_nothing(env: Env, body: bytes, content_type: str) -> None:
    response = env.post("cdrs", body, content_type)
    assert (response.status_code, response.json()) == (200, counts())
    assert env.list("cdrs") == EMPTY


WITHOUT_BODY = [
    (kind, content_type)
    for kind in KIND
    for content_type in (NDJSON, "application/json", "text/csv", "")
    if content_type != "text/csv" or KIND[kind].accepts_csv
]


@pytest.mark.parametrize(("kind", "content_type"), WITHOUT_BODY)
def test_a_request_without_a_body_gets_400(env: Env, kind: str, content_type: str) -> None:
    """No body at all is a producer's bug, not an empty batch: it must not pass as a 200."""

    def nothing() -> Iterator[bytes]:  # chunked, without a content-length
        yield from ()

    for body in (b"", nothing()):
        response = env.post(kind, body, content_type)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["status"], error["code"]) == (400, "empty_body")
        assert error["message"] == "corpo vazio: envie ao menos um registro"
        assert "parameter" not in error
    assert env.list(kind) == EMPTY


# Documents stored whole ------------------------------------------------------------------

EXTRAS: dict[str, Any] = {
    "unknown_extra": {"deep": {"deeper": [1, 2.5, None, True, "três"]}},
    "floats": [0.1, 1e-7, 123456.789, -2.5e300, 0.30000000000000004],
    "big_int": 9007199254740993,
    "nulls": {"a": None, "b": [None, None]},
    "unicode": 'ação — 中文 — 🚀 — "aspas" \\ barra',
    "empty": {"object": {}, "list": [], "text": ""},
    "description_name": None,
}


@pytest.mark.parametrize("kind", ["attendant-logs", "cdrs", "cards"])
@pytest.mark.parametrize("content_type", [NDJSON, "application/json"])
def test_documents_come_back_whole(both: Env, kind: str, content_type: str) -> None:
    make = card if kind == "cards" else MAKERS[kind]
    docs = [make(1, **EXTRAS), make(2, **EXTRAS, nested_unicode={"é": ["ñ", {"ç": 1.0}]})]
    body = ndjson(*docs) if content_type == NDJSON else orjson.dumps(docs)
    assert both.send(kind, body, content_type) == counts(stored=2)
    assert both.list(kind) == page_of(kind, masked(*docs) if kind == "cards" else docs)


def test_control_characters_in_filter_fields(both: Env) -> None:
    # "\u0000" is valid JSON; a document holding it in a filtered field must not sink the
    # batch (the rest of a batch is stored) nor come back altered.
    doc = attendant(1, description="linha\u0000nula\u0001", screen="tab\there")
    plain = attendant(2)
    assert both.send("attendant-logs", ndjson(doc, plain)) == counts(stored=2)
    assert both.list("attendant-logs") == page_of("attendant-logs", [doc, plain])


@pytest.mark.parametrize(
    ("kind", "oversized"),
    [
        ("cdrs", {"call_status": "x" * 2_100}),
        ("cdrs", {"callid": "9" * 2_001}),
        ("attendant-logs", {"description": "é" * 1_001}),  # 1,001 characters, 2,002 bytes
    ],
)
def test_a_record_too_large_for_the_index_is_refused_alone(
    both: Env, kind: str, oversized: dict[str, Any]
) -> None:
    """Without the check, PostgreSQL's index refuses the entry and the whole batch fails."""
    make = MAKERS[kind]
    big = {**make(2), **oversized}
    near = (
        make(3, description="ç" * 900)
        if kind == "attendant-logs"
        else make(3, alt_dnis="5" * 1_900)
    )
    answer = both.send(kind, ndjson(make(1), big, near))

    assert (answer["stored"], answer["rejected"]) == (2, 1)
    assert answer["rejections"][0]["position"] == 2
    assert "2000" in answer["rejections"][0]["reason"].replace(".", "").replace(",", "")
    assert both.list(kind) == page_of(kind, [make(1), near])


def test_a_whole_number_too_large_for_a_filter_leaves_it_unsearchable(both: Env) -> None:
    """A 64-bit column cannot hold 10**20: stored as a key, it failed the whole batch."""
    huge = b'{"callid": "1", "ori_start_time": "2020-01-27T19:00:01.000-03:00", '
    huge += b'"ori_billing_time": 100000000000000000000}\n'
    plain = cdr(2, ori_billing_time=60)
    assert both.send("cdrs", huge + ndjson(plain)) == counts(stored=2)
    listing = both.list("cdrs")
    assert [item["callid"] for item in listing["items"]] == ["1", plain["callid"]]
    assert listing["items"][0]["ori_billing_time"] == 10**20  # the document is whole
    assert both.list("cdrs", ori_billing_time=60)["items"] == [plain]
