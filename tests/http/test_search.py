"""The three search endpoints over HTTP: spec examples, every filter, time bounds, order, tenancy.

Expectations are computed here, from the spec and the issue, by independent predicates over
the documents these tests ingest; never read back from the implementation.
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from atende_logs import credentials
from atende_logs.models import Customer
from atende_logs.storage import Store

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "src" / "atende_logs" / "http" / "examples"  # the spec's examples, packaged
KINDS = {  # kind: (GET path, spec example, id field, time field)
    "attendant-logs": ("/customers/attendants/logs", "attendant-logs", "id", "timestamp"),
    "cdrs": ("/customers/cdrs/logs", "cdrs", "callid", "ori_start_time"),
    "cards": ("/customers/dialer-queue/cards", "dialer-queue-cards", "id", "timestamp"),
}  # fmt: skip
PATHS = {kind: row[0] for kind, row in KINDS.items()}
ID = {kind: row[2] for kind, row in KINDS.items()}
MASK = "****************"
Doc = dict[str, Any]


def example(kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (SPEC / f"example-{KINDS[kind][1]}.json").read_text(encoding="utf-8")
    )
    return loaded


def utc_ms(*parts: int) -> int:
    """Epoch ms of a UTC wall time (year, month, day, hour, minute, second, millisecond)."""
    y, mo, d, h, mi, s, ms = (*parts, 0, 0, 0, 0)[:7]
    moment = datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def time_ms(kind: str, doc: Doc) -> int:
    moment = datetime.fromisoformat(doc[KINDS[kind][3]])
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def ordered(kind: str, docs: Sequence[Doc]) -> list[Doc]:
    """The spec's order: ascending time, ties by id."""
    return sorted(docs, key=lambda doc: (time_ms(kind, doc), str(doc[ID[kind]])))


def variant(base: Doc, changes: dict[str, Any]) -> Doc:
    """A deep copy of ``base`` with dotted paths set."""
    doc = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        target = doc
        for step in parents:
            target = target[step]
        target[last] = value
    return doc


@dataclass(frozen=True)
class Tenant:
    customer_id: int
    key: str
    dialer_id: int
    token: str
    ingest_key: str


def new_tenant(store: Store, ingest_key: str) -> Tenant:
    customer = store.create_customer(f"search {uuid.uuid4().hex[:8]}")
    _, key = store.create_api_key(customer.id)
    dialer, token = store.create_dialer(customer.id, "discador")
    return Tenant(customer.id, key, dialer.id, token, ingest_key)


def put(
    client: TestClient, tenant: Tenant, kind: str, docs: list[Doc], *, nd: bool = False
) -> None:
    """Ingest over HTTP; cards carry the dialer's real token, as a producer sends them."""
    url = f"/ingest/customers/{tenant.customer_id}/{kind}"
    if kind == "cards":
        url = f"/ingest/customers/{tenant.customer_id}/dialers/{tenant.dialer_id}/cards"
        docs = [dict(doc, token=tenant.token) for doc in docs]
    body = "\n".join(map(json.dumps, docs)) if nd else json.dumps(docs)
    media = "application/x-ndjson" if nd else "application/json"
    headers = {"x-ingest-key": tenant.ingest_key, "content-type": media}
    response = client.post(url, content=body.encode(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == 0, response.json()


def listing(client: TestClient, tenant: Tenant, kind: str, params: Any = ()) -> dict[str, Any]:
    query = list(params.items() if isinstance(params, dict) else params)
    if kind == "cards":
        query.append(("token", tenant.token))
    response = client.get(PATHS[kind], params=query, headers={"x-api-key": tenant.key})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def masked(kind: str, doc: Doc) -> Doc:
    return dict(doc, token=MASK) if kind == "cards" else doc


@pytest.fixture(scope="session")
def ingest_key(store: Store) -> str:
    return store.create_ingest_key("tests http search")[1]


# 1. The spec's own examples --------------------------------------------------------------

SPEC_AFTER = {"attendant-logs": 1581020914072, "cdrs": 1580164093000, "cards": 1580480009669}


@pytest.mark.parametrize("kind", list(PATHS))
def test_spec_example_round_trips(
    client: TestClient, store: Store, ingest_key: str, customer: Customer, api_key: str, kind: str
) -> None:
    page = example(kind)
    dialer, token = store.create_dialer(customer.id, "spec")
    tenant = Tenant(customer.id, api_key, dialer.id, token, ingest_key)
    put(client, tenant, kind, page["items"], nd=kind == "cdrs")
    body = listing(client, tenant, kind)
    assert body == {"total": 1, "after": SPEC_AFTER[kind], "items": page["items"]}
    assert list(body["items"][0]) == list(page["items"][0])
    assert page["after"] == SPEC_AFTER[kind]
    if kind == "cards":
        assert body["items"][0]["token"] == MASK and token not in json.dumps(body)


# 2. Every filter ------------------------------------------------------------------------

ATT_COLUMNS = (
    "id timestamp attendant.email attendant.name attendant.extension_number "
    "machine_attributes.voipNumberVersion duration ani_number complements.ringing.direction "
    "complements.busy.direction complements.wrapup.direction call.call_id source kind screen "
    "description"
).split()
ATT_ROWS = [
    ("a1", "2020-02-06T20:28:34.072Z", "rh1@atende.com", "RH1", "19", "1.14.111.1559", 0, None,
     None, None, None, None, "voip", "status", "disconnected", None),
    ("a2", "2020-02-06T20:30:00.000Z", "JOÃO@Atende.com", "JOÃO Silva", 19, "1.9", 30,
     "5563984866338", "inbound", "outbound", None, "c-1", "webphone", "call", "ringing", "almoco"),
    ("a3", "2020-02-06T20:31:00.500Z", "joão@atende.com", "joão silva", "20", "1.9.0", 29.5,
     "+55 (63) 98486-6338", None, "outbound", None, "c-2", "voip", "status", "busy", "Almoco"),
    ("a4", "2020-02-06T20:31:00.500Z", "Joao@atende.com", "Joao Silva", 20, "1.10", 31,
     "63984866338", None, None, "inbound", "c-1", "Voip", "pause", "pause", "almoço"),
    ("a5", "2020-02-07T09:00:00.000-03:00", "RH1@ATENDE.COM", "rh1", "190", "1.8.99", 30.0,
     "5511912345678", None, "inbound", "outbound", "C-1", "webphone", "call", "wrapup", None),
    ("a6", "2020-02-07T12:00:00.001Z", "maria@atende.com", "Maria", "019", None, None, None,
     "outbound", None, "inbound", "c-10", "voip", "status", "disconnected", "almoco"),
]  # fmt: skip


def _attendant(row: tuple[Any, ...]) -> Doc:
    doc = variant(example("attendant-logs")["items"][0], dict(zip(ATT_COLUMNS, row, strict=True)))
    # The top-level copies agree with attendant.*, so either reading of the spec holds.
    for name in ("email", "name", "extension_number"):
        doc[name] = doc["attendant"][name]
    return doc


CDR_COLUMNS = (
    "callid ori_start_time alt_dnis ori_billing_time total_charge selected_options "
    "zendesk_ticket_id configuration_kind period call_terminated call_status"
).split()
CDR_ROWS = [
    ("69709941", "2020-01-27T19:28:13.000-03:00", "5508008870608", 60, "1.35", "2,4", None,
     "default", "worktime", "A", "abandoned"),
    ("69709942", "2020-01-27T19:28:13.000-03:00", "+55 0800 887-0608", 120, "1.350", "2,4,1",
     123456, "dialer", "after_hours", "B", "answered"),
    ("69709943", "2020-01-27T19:30:00.000-03:00", "5563999990000", 59, 1.35, "4", "123456",
     "default", "worktime", "B", "answered"),
    ("69709944", "2020-01-27T19:31:00-03:00", "08008870608", 61, "13.5", "2,4", "654321",
     "default", "holiday", "A", "abandoned"),
    ("69709945", "2020-01-28T08:00:00.000-03:00", None, 60, "0.135", None, None, "dialer",
     "worktime", "A", "no_answer"),
]  # fmt: skip
CARD_COLUMNS = "id timestamp number status card_info_1 card_info_2 card_info_3".split()
CARD_ROWS = [
    ("k1", "2020-01-31T14:13:29.669Z", "5521999999999", "to_call", "Truck", "Grade Baixa", "NÃO"),
    ("k2", "2020-01-31T14:13:29.669Z", "+55 (21) 99999-9999", "called", "truck", "Grade Baixa",
     "não"),
    ("k3", "2020-01-31T14:13:29.669Z", "5521988887777", "to_call", "Car", "Grade Alta", "SIM"),
    ("k4", "2020-01-31T15:00:00.000Z", 5521999999999, "scheduled", "Truck", None, "NAO"),
    ("k5", "2020-02-01T10:00:00.000Z", "21999999999", "to_call", "Bike", "grade baixa",
     "NA\u0303O"),  # decomposed
]  # fmt: skip


def _from_rows(kind: str, columns: list[str], rows: list[tuple[Any, ...]]) -> list[Doc]:
    base = example(kind)["items"][0]
    return [variant(base, dict(zip(columns, row, strict=True))) for row in rows]


DOCS: dict[str, list[Doc]] = {
    "attendant-logs": [_attendant(row) for row in ATT_ROWS],
    "cdrs": _from_rows("cdrs", CDR_COLUMNS, CDR_ROWS),
    "cards": _from_rows("cards", CARD_COLUMNS, CARD_ROWS),
}


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value) if ch in "0123456789")


def _version_ge(have: Any, want: str) -> bool:
    if have is None:
        return False
    a, b = ([int(part) for part in str(text).split(".")] for text in (have, want))
    width = max(len(a), len(b))
    return a + [0] * (width - len(a)) >= b + [0] * (width - len(b))


def _direction(doc: Doc) -> Any:
    found = [doc["complements"][step]["direction"] for step in ("ringing", "busy", "wrapup")]
    return next((value for value in found if value is not None), None)


def _nfc(value: Any) -> Any:
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _eq(name: str) -> Callable[[Doc, str], bool]:
    return lambda doc, value: _nfc(doc.get(name)) == _nfc(value)


def _folded(name: str) -> Callable[[Doc, str], bool]:
    return lambda doc, value: _nfc(doc["attendant"][name] or "").lower() == _nfc(value).lower()


def _national(value: Any) -> str:
    """The number as docs/api.md reads it, for the spellings used here: no country code,
    no trunk 0 (an 0800 number keeps its 0)."""
    digits = _digits(value)
    if len(digits) in (12, 13) and digits.startswith("55"):
        digits = digits[2:]
    return digits if digits.startswith("0800") else digits.removeprefix("0")


def _phone(name: str) -> Callable[[Doc, str], bool]:
    return lambda doc, value: doc[name] is not None and _national(doc[name]) == _national(value)


def _extension(doc: Doc, value: str) -> bool:
    def key(text: str) -> str:
        return str(int(text)) if text.isdigit() else text

    return key(str(doc["extension_number"])) == key(value)


PREDICATES: dict[str, dict[str, Callable[[Doc, str], bool]]] = {
    "attendant-logs": {
        "attendant_email": _folded("email"),
        "attendant_name": _folded("name"),
        "duration": lambda d, v: d["duration"] is not None and d["duration"] >= float(v),
        "ani": _phone("ani_number"),
        "direction": lambda d, v: _direction(d) == v,
        "call_id": lambda d, v: d["call"]["call_id"] == v,
        "voip_version": lambda d, v: _version_ge(d["machine_attributes"]["voipNumberVersion"], v),
        "extension_number": _extension,
        **{name: _eq(name) for name in ("description", "source", "kind", "screen")},
    },
    "cdrs": {
        "call_id": _eq("callid"),
        "alt_dnis": _phone("alt_dnis"),
        "ori_billing_time": lambda d, v: d["ori_billing_time"] == int(v),
        "total_charge": lambda d, v: (
            Decimal(str(d["total_charge"])) == Decimal(v.replace(",", "."))
        ),
        "zendesk_ticket_id": lambda d, v: str(d["zendesk_ticket_id"] or "") == v,
        **{
            name: _eq(name)
            for name in ("selected_options", "configuration_kind", "period", "call_terminated")
        },
        "call_status": _eq("call_status"),
    },
    "cards": {
        "number": _phone("number"),
        **{name: _eq(name) for name in ("status", "card_info_1", "card_info_2", "card_info_3")},
    },
}

SINGLE = {
    "attendant-logs": {
        "attendant_email": ["JOÃO@ATENDE.COM", "joão@atende.com", "rh1@Atende.com", "x@y.z"],
        "attendant_name": ["JOÃO SILVA", "Joao silva", "rh1", "RH"],
        "description": ["almoco", "Almoco", "almoço", "almo"],
        "duration": ["30", "29.5", "0", "31", "30.5", "1000"],
        "ani": [
            "+55 (63) 98486-6338",
            "5563984866338",
            "63984866338",
            "(11) 91234-5678",
            "063 98486 6338",
            "6398486633",
        ],
        "source": ["voip", "Voip", "webphone"],
        "direction": ["inbound", "outbound", "Inbound"],
        "call_id": ["c-1", "C-1", "c-2", "c-"],
        "voip_version": ["1.9", "1.9.0", "1.14", "1.14.111.1559", "1.14.111.1560", "1.10", "2"],
        "kind": ["status", "call", "pause"],
        "screen": ["disconnected", "ringing", "wrapup"],
        "extension_number": ["19", "20", "190", "019", "0019", "1", "0"],
    },
    "cdrs": {
        "call_id": ["69709941", "69709945", "6970994"],
        "alt_dnis": ["5508008870608", "+55 (0800) 887-0608", "08008870608", "0800 887 0608"],
        "ori_billing_time": ["60", "59", "61", "120", "6"],
        "total_charge": ["1.35", "1.350", "1,35", "1,3500", "13.5", "13,50", "0.135", "1.3", "135"],
        "selected_options": ["2,4", "2,4,1", "4", "2, 4", "2"],
        "zendesk_ticket_id": ["123456", "654321", "12345"],
        "configuration_kind": ["default", "dialer"],
        "period": ["worktime", "holiday", "after_hours"],
        "call_terminated": ["A", "B", "a"],
        "call_status": ["abandoned", "answered", "no_answer"],
    },
    "cards": {
        "number": ["5521999999999", "+55 21 99999-9999", "21999999999", "5521988887777"],
        "status": ["to_call", "called", "scheduled"],
        "card_info_1": ["Truck", "truck", "Bike"],
        "card_info_2": ["Grade Baixa", "grade baixa", "Grade"],
        "card_info_3": ["NÃO", "NA\u0303O", "não", "NAO", "SIM"],
    },
}
COMBINED = [
    ("attendant-logs", {"attendant_email": "JOÃO@ATENDE.COM", "duration": "30"}),
    ("attendant-logs", {"direction": "inbound", "voip_version": "1.9", "kind": "call"}),
    ("attendant-logs", {"screen": "disconnected", "source": "voip", "extension_number": "19"}),
    ("attendant-logs", {"call_id": "c-1", "ani": "63984866338"}),
    ("cdrs", {"total_charge": "1.35", "selected_options": "2,4"}),
    ("cdrs", {"period": "worktime", "call_terminated": "B", "ori_billing_time": "59"}),
    ("cdrs", {"alt_dnis": "550800 887 0608", "zendesk_ticket_id": "123456"}),
    ("cards", {"number": "5521999999999", "card_info_1": "Truck"}),
    ("cards", {"status": "to_call", "card_info_3": "NÃO", "card_info_2": "Grade Baixa"}),
]
CASES = [
    (kind, {param: value}) for kind, table in SINGLE.items() for param, values in table.items()
    for value in values
] + COMBINED  # fmt: skip


def test_every_documented_filter_is_exercised() -> None:
    text = (REPO / "docs" / "spec" / "api-clientes.txt").read_text(encoding="utf-8")
    documented = {
        kind: set(re.search(re.escape(path) + r"\?(\S+)", text)[1].split("&"))  # type: ignore[index]
        - {"start_at", "end_at", "after", "size", "token"}
        for kind, path in PATHS.items()
    }
    for kind, table in SINGLE.items():
        assert documented[kind] <= set(table) == set(PREDICATES[kind])


@dataclass(frozen=True)
class World:
    a: Tenant
    b: Tenant
    a_other_dialer: Tenant


@pytest.fixture(scope="session")
def world(client: TestClient, store: Store, ingest_key: str) -> World:
    """Customer A holds DOCS; customer B and A's second dialer hold look-alikes (same fields,
    other ids), which must never show up in A's answers."""
    a, b = new_tenant(store, ingest_key), new_tenant(store, ingest_key)
    dialer, token = store.create_dialer(a.customer_id, "second")
    other = Tenant(a.customer_id, a.key, dialer.id, token, ingest_key)
    for kind, docs in DOCS.items():
        put(client, a, kind, list(reversed(docs)))
        renamed = [{**doc, ID[kind]: f"b-{doc[ID[kind]]}"} for doc in docs]
        put(client, b, kind, renamed)
    put(client, other, "cards", [{**d, "id": f"d2-{d['id']}"} for d in DOCS["cards"]])
    return World(a, b, other)


@pytest.mark.parametrize(("kind", "params"), CASES, ids=lambda case: json.dumps(case)[:60])
def test_filter(client: TestClient, world: World, kind: str, params: dict[str, str]) -> None:
    expected = [
        masked(kind, doc)
        for doc in ordered(kind, DOCS[kind])
        if all(PREDICATES[kind][name](doc, value) for name, value in params.items())
    ]
    body = listing(client, world.a, kind, {**params, "size": "1000"})
    assert [item[ID[kind]] for item in body["items"]] == [doc[ID[kind]] for doc in expected]
    assert body == {
        "total": len(expected),
        "after": time_ms(kind, expected[-1]) if expected else None,
        "items": expected,
    }


EDGES = [  # Hand-derived from the wording, to keep the predicates above honest.
    ("attendant-logs", "voip_version", "1.9", "a1 a2 a3 a4"),  # 1.14.111.1559 >= 1.9
    ("attendant-logs", "voip_version", "1.14", "a1"),  # 1.9 >= 1.14 is false
    ("attendant-logs", "voip_version", "1.9.0", "a1 a2 a3 a4"),  # "1.9" is "1.9.0"
    ("attendant-logs", "extension_number", "19", "a1 a2 a6"),  # "19", 19 and "019"
    ("attendant-logs", "extension_number", "019", "a1 a2 a6"),
    ("attendant-logs", "direction", "inbound", "a2 a4 a5"),  # ringing, wrapup-only, busy
    ("attendant-logs", "direction", "outbound", "a3 a6"),  # busy-only, ringing beats wrapup
    ("attendant-logs", "attendant_email", "JOÃO@ATENDE.COM", "a2 a3"),
    ("attendant-logs", "attendant_name", "JOÃO SILVA", "a2 a3"),
    ("attendant-logs", "duration", "30", "a2 a4 a5"),
    ("attendant-logs", "ani", "+55 (63) 98486-6338", "a2 a3 a4"),
    ("attendant-logs", "ani", "(63) 98486-6338", "a2 a3 a4"),
    ("attendant-logs", "ani", "(11) 91234-5678", "a5"),
    ("cdrs", "total_charge", "1.35", "69709941 69709942 69709943"),
    ("cdrs", "total_charge", "1,35", "69709941 69709942 69709943"),
    ("cdrs", "selected_options", "2,4", "69709941 69709944"),
    ("cdrs", "zendesk_ticket_id", "123456", "69709942 69709943"),
    ("cdrs", "alt_dnis", "+55 (0800) 887-0608", "69709941 69709942 69709944"),
    ("cdrs", "alt_dnis", "0800 887 0608", "69709941 69709942 69709944"),
    ("cdrs", "ori_billing_time", "60", "69709941 69709945"),
    ("cards", "number", "5521999999999", "k1 k2 k4 k5"),
    ("cards", "card_info_3", "NÃO", "k1 k5"),
    ("cards", "card_info_3", "NA\u0303O", "k1 k5"),  # decomposed: the same text in NFC
]


@pytest.mark.parametrize(("kind", "param", "value", "ids"), EDGES)
def test_filter_edges(
    client: TestClient, world: World, kind: str, param: str, value: str, ids: str
) -> None:
    items = listing(client, world.a, kind, {param: value})["items"]
    assert sorted(item[ID[kind]] for item in items) == ids.split()


# 3. Time bounds ---------------------------------------------------------------------------

TIMELINE = {  # id -> UTC instant. São Paulo is -03:00 in 2020 and -02:00 (DST) in Jan 2019.
    "t00": utc_ms(2020, 3, 10, 2, 59, 59, 999),  # 2020-03-09 23:59:59.999 in São Paulo
    "t01": utc_ms(2020, 3, 10, 3),  # 2020-03-10 00:00 in São Paulo
    "t02": utc_ms(2020, 3, 10, 4),  # 2020-03-10 00:00 in Manaus
    "t03": utc_ms(2020, 3, 10, 15),
    "t04": utc_ms(2020, 3, 10, 15, 0, 0, 999),
    "t05": utc_ms(2020, 3, 10, 15, 0, 1),
    "t06": utc_ms(2020, 3, 10, 15, 0, 59, 999),
    "t07": utc_ms(2020, 3, 10, 15, 1),
    "t08": utc_ms(2020, 3, 11, 2, 59, 59, 999),  # 2020-03-10 23:59:59.999 in São Paulo
    "t09": utc_ms(2020, 3, 11, 3),
    "t10": utc_ms(2020, 3, 11, 3, 59, 59, 999),  # 2020-03-10 23:59:59.999 in Manaus
    "t11": utc_ms(2020, 3, 11, 4),
    "u1": utc_ms(2019, 1, 15, 13, 59, 59, 999),
    "u2": utc_ms(2019, 1, 15, 14),  # 2019-01-15 12:00 at -02:00
    "u3": utc_ms(2019, 1, 15, 15),  # 12:00 at -03:00: what a reader ignoring DST would pick
    "u4": utc_ms(2019, 1, 16, 1, 59, 59, 999),  # 2019-01-15 23:59:59.999 at -02:00
    "u5": utc_ms(2019, 1, 16, 2),
    "w1": utc_ms(2018, 11, 4, 2, 59, 59, 999),  # 2018-11-03 23:59:59.999 at -03:00
    "w2": utc_ms(2018, 11, 4, 3),  # 2018-11-04 01:00 at -02:00: DST skips that midnight
    "w3": utc_ms(2018, 11, 5, 1, 59, 59, 999),  # 2018-11-04 23:59:59.999 at -02:00
    "v1": utc_ms(2019, 2, 17, 2, 59, 59, 999),  # 2019-02-16 23:59:59.999, second pass (-03:00)
    "v2": utc_ms(2019, 2, 17, 3),  # 2019-02-17 00:00 at -03:00
}


def _iso(ms: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@pytest.fixture(scope="session")
def timeline(client: TestClient, store: Store, ingest_key: str) -> Tenant:
    tenant = new_tenant(store, ingest_key)
    base = example("attendant-logs")["items"][0]
    docs = [variant(base, {"id": key, "timestamp": _iso(ms)}) for key, ms in TIMELINE.items()]
    put(client, tenant, "attendant-logs", docs)
    return tenant


SP_DAY = (utc_ms(2020, 3, 10, 3), utc_ms(2020, 3, 11, 3) - 1)
NOON_SP = utc_ms(2020, 3, 10, 15)
BOUNDS = [  # (query, lowest included instant, highest included instant)
    ({"start_at": "2020-03-10T03:00:00.000Z", "end_at": "2020-03-10T15:00:00.000Z"},
     utc_ms(2020, 3, 10, 3), NOON_SP),
    ({"start_at": "2020-03-10", "end_at": "2020-03-10"}, *SP_DAY),
    ({"start_at": "2020-03-10", "end_at": "2020-03-10", "tz": "America/Sao_Paulo"}, *SP_DAY),
    ({"start_at": "2020-03-10", "end_at": "2020-03-10", "tz": "America/Manaus"},
     utc_ms(2020, 3, 10, 4), utc_ms(2020, 3, 11, 4) - 1),
    ({"start_at": "2020-03-10T12:00:00", "end_at": "2020-03-10T12:00:00"}, NOON_SP, NOON_SP + 999),
    ({"start_at": "2020-03-10T11:00:00.000", "end_at": "2020-03-10T11:00:00.500",
      "tz": "America/Manaus"}, NOON_SP, NOON_SP + 500),
    ({"start_at": "2020-03-10T12:00", "end_at": "2020-03-10T12:00"}, NOON_SP, NOON_SP + 59_999),
    ({"start_at": "2020-03-10T15:00:00Z", "end_at": "2020-03-10T15:00:00Z"},
     NOON_SP, NOON_SP + 999),
    ({"start_at": "2020-03-10T11:00:00.000-04:00", "end_at": "2020-03-10T12:00:00.999-03:00"},
     NOON_SP, NOON_SP + 999),
    ({"start_at": "2020-03-10T18:00:00.000+03:00", "end_at": "2020-03-10T18:00:01.000+03:00"},
     NOON_SP, NOON_SP + 1000),
    ({"start_at": str(utc_ms(2020, 3, 10, 3)), "end_at": str(utc_ms(2020, 3, 11, 2, 59, 59, 999))},
     *SP_DAY),
    ({"start_at": "2019-01-15T12:00:00.000", "end_at": "2019-01-15T12:00:00.000"},
     utc_ms(2019, 1, 15, 14), utc_ms(2019, 1, 15, 14)),
    ({"start_at": "2019-01-15", "end_at": "2019-01-15"},
     utc_ms(2019, 1, 15, 2), utc_ms(2019, 1, 16, 2) - 1),
    ({"start_at": "2018-11-04", "end_at": "2018-11-04"},  # a 23-hour day
     utc_ms(2018, 11, 4, 3), utc_ms(2018, 11, 5, 2) - 1),
    ({"start_at": "2019-02-16", "end_at": "2019-02-16"},  # a 25-hour day
     utc_ms(2019, 2, 16, 2), utc_ms(2019, 2, 17, 3) - 1),
    ({"start_at": "2020-03-11"}, utc_ms(2020, 3, 11, 3), None),
    ({"end_at": "2020-03-09"}, None, utc_ms(2020, 3, 10, 3) - 1),
    ({"start_at": "2020-03-10T15:00:00.999Z", "end_at": "2020-03-10T15:00:00.999Z"},
     NOON_SP + 999, NOON_SP + 999),
]  # fmt: skip


def _within(low: int | None, high: int | None) -> list[str]:
    inside = [
        (ms, key)
        for key, ms in TIMELINE.items()
        if (low is None or ms >= low) and (high is None or ms <= high)
    ]
    return [key for _, key in sorted(inside)]


@pytest.mark.parametrize(("query", "low", "high"), BOUNDS, ids=lambda v: str(v)[:50])
def test_time_bounds(
    client: TestClient, timeline: Tenant, query: dict[str, str], low: int | None, high: int | None
) -> None:
    expected = _within(low, high)
    assert expected  # every case selects something, so a wrong bound shows
    body = listing(client, timeline, "attendant-logs", query)
    assert [item["id"] for item in body["items"]] == expected
    assert body["total"] == len(expected)


def test_unencoded_plus_offset_is_read_as_plus(client: TestClient, timeline: Tenant) -> None:
    # A raw "+" in a query string decodes to a space; the server must still read +03:00.
    query = "start_at=2020-03-10T18:00:00.000+03:00&end_at=2020-03-10T18:00:00.999+03:00"
    response = client.get(f"{PATHS['attendant-logs']}?{query}", headers={"x-api-key": timeline.key})
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == _within(NOON_SP, NOON_SP + 999)


# 4. Order and total ---------------------------------------------------------------------


def test_order_ties_and_total_across_pages(
    client: TestClient, ingest_key: str, customer: Customer, api_key: str
) -> None:
    base = example("cdrs")["items"][0]
    stamps = ["2020-01-27T19:28:13-03:00"] * 5 + ["2020-01-27T19:28:12.000-03:00"] * 2
    stamps += ["2020-01-27T22:28:14Z", "2020-01-27T22:28:13.000Z"]  # 19:28:14 / 19:28:13 local
    callids = ["c-e", "c-b", "c-d", "c-a", "c-c", "c-z", "c-y", "c-m", "c-f"]
    docs = [
        variant(base, {"callid": callid, "ori_start_time": stamp, "period": period})
        for callid, stamp, period in zip(callids, stamps, ["worktime", "x"] * 5, strict=False)
    ]
    tenant = Tenant(customer.id, api_key, 0, "", ingest_key)
    put(client, tenant, "cdrs", docs)
    for params in ({}, {"period": "worktime"}):
        wanted = ordered("cdrs", [d for d in docs if params.get("period") in (None, d["period"])])
        seen: list[Doc] = []
        after: list[tuple[str, str]] = []
        while True:
            body = listing(client, tenant, "cdrs", [*params.items(), ("size", "2"), *after])
            assert body["total"] == len(wanted)
            if not body["items"]:
                assert body["after"] is None
                break
            seen += body["items"]
            last = time_ms("cdrs", seen[-1])
            following = wanted[len(seen)] if len(seen) < len(wanted) else None
            if following is not None and time_ms("cdrs", following) == last:
                assert isinstance(body["after"], str)  # a tie continues: needs a token
            else:
                assert body["after"] == last
            after = [("after", str(body["after"]))]
        assert seen == wanted


# 5. Tenancy ----------------------------------------------------------------------------


def test_foreign_dialer_token_is_indistinguishable_from_none(
    client: TestClient, world: World
) -> None:
    unknown = credentials.generate(credentials.DIALER_TOKEN)
    answers = []
    for token in (world.b.token, unknown, "lpnIf8ACeW70YtQNPitLr5DbL2I3ZlU71skFwTJL"):
        for params in ({}, {"status": "to_call"}):
            response = client.get(
                PATHS["cards"],
                params={**params, "token": token},
                headers={"x-api-key": world.a.key},
            )
            assert response.status_code == 404
            assert response.json()["error"]["status"] == 404
            # Each answer has a request id of its own: compare the rest.
            answers.append(response.content.replace(response.headers["x-request-id"].encode(), b""))
    assert len(set(answers)) == 1
    reverse = client.get(
        PATHS["cards"], params={"token": world.a.token}, headers={"x-api-key": world.b.key}
    )
    assert (
        reverse.status_code,
        reverse.content.replace(reverse.headers["x-request-id"].encode(), b""),
    ) == (404, answers[0])


def test_each_tenant_and_dialer_sees_only_its_own(client: TestClient, world: World) -> None:
    for kind, docs in DOCS.items():
        ids = [doc[ID[kind]] for doc in ordered(kind, docs)]
        for tenant, prefix in ((world.a, ""), (world.b, "b-")):
            got = listing(client, tenant, kind, {"size": "1000"})
            assert [item[ID[kind]] for item in got["items"]] == [prefix + i for i in ids]
    other = listing(client, world.a_other_dialer, "cards", {"size": "1000"})
    assert [item["id"] for item in other["items"]] == [
        "d2-" + doc["id"] for doc in ordered("cards", DOCS["cards"])
    ]
