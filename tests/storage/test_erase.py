"""Erasing one person's phone number (LGPD, issue 5): every spelling of it goes from the
customer's three kinds of log, nothing else changes, and the audit says what was done."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _raw import raw_rows
from atende_logs.errors import NotFoundError, ParameterError
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, KINDS, Kind
from atende_logs.models import Condition, Customer, SearchQuery
from atende_logs.redaction import MASK, SEPARATORS, erasure_key, redact
from atende_logs.storage import Store, _personal_data

BASE_MS = 1_767_614_400_000
Doc = dict[str, Any]

area_codes = st.integers(11, 99).filter(lambda n: n % 10 != 0).map(str)
subscribers = st.from_regex(r"9[0-9]{8}", fullmatch=True) | st.from_regex(
    r"[2-5][0-9]{7}", fullmatch=True
)
national_numbers = st.builds(lambda ddd, sub: ddd + sub, area_codes, subscribers)


@st.composite
def spellings(draw: st.DrawFn, national: str) -> str:
    """One way people and systems write ``national``: prefixes, parentheses, separators."""
    ddd, sub = national[:2], national[2:]
    prefix = draw(st.sampled_from(["", "0", "55", "+55", "+55 ", "0055 ", "+55-", "+ 55 "]))
    area = draw(st.sampled_from([ddd, f"({ddd})", f"({ddd}) ", f"{ddd} ", f"{ddd}-", f"{ddd}."]))
    cut = draw(st.sampled_from([len(sub) - 4, 1, 5]))
    separator = draw(st.sampled_from(["", "-", " ", "."]))
    return f"{prefix}{area}{sub[:cut]}{separator}{sub[cut:]}"


def other_number(national: str) -> str:
    """A number one digit away: someone else."""
    return national[:-1] + str((int(national[-1]) + 1) % 10)


def without_separators(text: str) -> str:
    return text.translate(str.maketrans("", "", SEPARATORS))


# --- the number's key and the redaction of one document -----------------------------------


@given(data=st.data(), national=national_numbers)
def test_every_spelling_has_the_same_key(data: st.DataObject, national: str) -> None:
    assert erasure_key(data.draw(spellings(national))) == national


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("+55 (11) 98765-4321", "11987654321"),
        ("011987654321", "11987654321"),
        ("5511987654321", "11987654321"),
        ("11 98765 4321", "11987654321"),
        ("(63) 3214-5678", "6332145678"),
        ("+1 (415) 555-0123", "14155550123"),
        ("0014155550123", "14155550123"),
    ],
)
def test_known_spellings(spelling: str, key: str) -> None:
    assert erasure_key(spelling) == key


@pytest.mark.parametrize("spelling", ["", "abc", "98765-4321", "123", "+1 234", "(10) 98765-4321"])
def test_what_is_not_a_number_with_area_code_is_refused(spelling: str) -> None:
    with pytest.raises(ParameterError) as raised:
        erasure_key(spelling)
    assert raised.value.parameter == "phone"


@given(data=st.data(), national=national_numbers)
def test_redaction_takes_every_spelling_out_and_keeps_the_rest(
    data: st.DataObject, national: str
) -> None:
    other = other_number(national)
    spelled = [data.draw(spellings(national)) for _ in range(3)]
    doc: Doc = {
        "id": "x1",
        "ani_number": spelled[0],
        "number_as_json_number": int("55" + national),
        "call": {"ani_number": spelled[1], "dnis": other},
        "notes": [f"retornar para {spelled[2]} às 14h", "sem telefone"],
        "count": 3,
        "flag": True,
    }
    assert redact(doc, national, keep=("id",))
    assert doc == {
        "id": "x1",
        "ani_number": None,
        "number_as_json_number": None,
        "call": {"ani_number": None, "dnis": other},
        "notes": [f"retornar para {MASK} às 14h", "sem telefone"],
        "count": 3,
        "flag": True,
    }
    assert national not in without_separators(orjson.dumps(doc).decode())
    assert not redact(doc, national)  # nothing left to take


# --- erasure in the store, on both databases ----------------------------------------------


def documents(spelled: list[str], national: str) -> dict[Kind, list[Doc]]:
    """Each kind's documents: some hold the number (in filter fields, elsewhere, as a JSON
    number), some hold another person's."""
    other = other_number(national)
    return {
        ATTENDANT_LOGS: [
            {"id": "a1", "timestamp": BASE_MS, "ani_number": spelled[0], "kind": "status"},
            {"id": "a2", "timestamp": BASE_MS + 1, "call": {"ani_number": spelled[1]}},
            {"id": "a3", "timestamp": BASE_MS + 2, "ani_number": other, "description": "x"},
        ],
        CDRS: [
            {"callid": "c1", "ori_start_time": BASE_MS, "ani": spelled[2], "alt_dnis": other},
            {"callid": "c2", "ori_start_time": BASE_MS, "alt_dnis": int("55" + national)},
            {
                "callid": "c3",
                "ori_start_time": BASE_MS + 5,
                "alt_dnis": other,
                "notes": f"cliente pediu retorno no {spelled[3]}",
            },
            {"callid": "c4", "ori_start_time": BASE_MS + 9, "ani": other, "call_status": "ok"},
        ],
        CARDS: [
            {"id": "k1", "timestamp": BASE_MS, "number": spelled[4], "card_info_1": "João"},
            {"timestamp": BASE_MS + 1, "number": spelled[5]},  # its id derives from the number
            {"id": "k3", "timestamp": BASE_MS + 2, "number": other},
        ],
    }


HOLDING = {ATTENDANT_LOGS: 2, CDRS: 3, CARDS: 2}
"""How many of each kind's documents above hold the number."""


def load(store: Store, owner: Customer, docs: dict[Kind, list[Doc]]) -> str:
    """Store ``docs`` for ``owner``; the dialer's token."""
    dialer, token = store.create_dialer(owner.id, "discador")
    for kind, listed in docs.items():
        dialer_id = dialer.id if kind.scope.by_dialer else None
        ingest(store, owner.id, kind, as_records(listed), zone=UTC, dialer_id=dialer_id)
    return token


def stored(url: str, owner: Customer, kind: Kind) -> dict[str, str]:
    rows = raw_rows(url, f"SELECT doc_id, doc FROM {kind.table} WHERE customer_id = ?", [owner.id])
    return {str(doc_id): str(doc) for doc_id, doc in rows}


def shape(value: Any) -> Any:
    """A document's keys, recursively: what a redaction must keep."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return None


def matches(store: Store, owner: Customer, token: str, national: str, spelled: str) -> int:
    """Documents the API's phone filters find for ``spelled`` (its digits, as a client sends)."""
    found = 0
    for kind, param in ((ATTENDANT_LOGS, "ani"), (CDRS, "alt_dnis"), (CARDS, "number")):
        spec = kind.filter(param)
        assert spec is not None
        for value in (spelled, national, "55" + national, "0" + national):
            query = SearchQuery(
                kind,
                owner.id,
                size=1,
                conditions=(Condition(spec, spec.key(value)),),
                dialer_token=token if kind.scope.by_dialer else None,
            )
            found += store.search(query).total
    return found


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), national=national_numbers)
def test_erase_takes_the_number_out_of_every_kind(
    store: Store, database_url: str, data: st.DataObject, national: str
) -> None:
    spelled = [data.draw(spellings(national)) for _ in range(7)]
    docs = documents(spelled[:6], national)
    owner = store.create_customer(f"titular {uuid.uuid4().hex[:6]}")
    bystander = store.create_customer(f"vizinho {uuid.uuid4().hex[:6]}")
    token = load(store, owner, docs)
    load(store, bystander, docs)
    before = {kind: stored(database_url, owner, kind) for kind in KINDS.values()}
    theirs = {kind: stored(database_url, bystander, kind) for kind in KINDS.values()}
    assert matches(store, owner, token, national, spelled[0]) > 0

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_personal_data, "SCAN_CHUNK", 2)  # the search reads several chunks
        erasure = store.erase_phone(owner.id, spelled[6], "titular via ticket 42")

    assert erasure.counts == {kind.name: count for kind, count in HOLDING.items()}
    assert erasure.phone_last_digits == national[-4:]
    assert store.list_erasures(owner.id) == [erasure]
    assert matches(store, owner, token, national, spelled[0]) == 0
    for kind in KINDS.values():
        after = stored(database_url, owner, kind)
        assert not [d for d in after.values() if national in without_separators(d)]
        untouched = {i: d for i, d in before[kind].items() if national not in without_separators(d)}
        assert {i: after[i] for i in untouched} == untouched  # byte for byte
        if kind.erasure == "delete":
            assert sorted(after) == sorted(untouched)  # the cards holding it are gone
        else:
            assert sorted(after) == sorted(before[kind])  # redacted, not deleted
            for doc_id, text in after.items():
                assert shape(orjson.loads(text)) == shape(orjson.loads(before[kind][doc_id]))
        assert stored(database_url, bystander, kind) == theirs[kind]
    assert store.list_erasures(bystander.id) == []


def test_erasure_shows_in_the_api_and_its_totals(
    store: Store, client: TestClient, customer: Customer, api_key: str
) -> None:
    number = "+55 (11) 98765-4321"
    logs = [
        {"id": f"a{n}", "timestamp": BASE_MS + n, "ani_number": "011987654321"} for n in range(3)
    ]
    ingest(store, customer.id, ATTENDANT_LOGS, as_records(logs), zone=UTC)

    def total(ani: str) -> int:
        page = client.get(
            "/customers/attendants/logs",
            params={"ani": ani, "size": "1"},
            headers={"x-api-key": api_key},
        )
        assert page.status_code == 200, page.text
        return int(page.json()["total"])

    assert total("011987654321") == 3  # counted once, then cached for later pages
    erasure = store.erase_phone(customer.id, number, "dpo@cliente.com.br")
    assert erasure.counts == {ATTENDANT_LOGS.name: 3, CDRS.name: 0, CARDS.name: 0}
    assert total("011987654321") == 0
    everything = client.get(
        "/customers/attendants/logs", params={"size": "1"}, headers={"x-api-key": api_key}
    ).json()
    assert everything["total"] == 3  # redacted, still there
    assert everything["items"][0]["ani_number"] is None


def test_erasure_of_a_number_nobody_has_is_audited_as_zero(
    store: Store, customer: Customer
) -> None:
    erasure = store.erase_phone(customer.id, "(21) 3456-7890", "operador")
    assert erasure.counts == dict.fromkeys(KINDS, 0)
    assert store.list_erasures(customer.id) == [erasure]


def test_erasure_refuses_unknown_customers_and_non_numbers(
    store: Store, customer: Customer
) -> None:
    with pytest.raises(NotFoundError):
        store.erase_phone(2_000_000_000, "11987654321", "x")
    with pytest.raises(ParameterError):
        store.erase_phone(customer.id, "4321", "x")
    assert store.list_erasures(customer.id) == []


def test_ids_and_times_are_kept_even_when_they_hold_the_digits(
    store: Store, database_url: str, customer: Customer
) -> None:
    """An id identifies the record (and a time places it): erasure leaves both, and a
    document whose only trace of the number is its id is not counted as changed."""
    cdr = {"callid": "11987654321", "ori_start_time": BASE_MS, "call_status": "answered"}
    ingest(store, customer.id, CDRS, as_records([cdr]), zone=UTC)
    before = stored(database_url, customer, CDRS)
    erasure = store.erase_phone(customer.id, "(11) 98765-4321", "operador")
    assert erasure.counts == dict.fromkeys(KINDS, 0)
    assert stored(database_url, customer, CDRS) == before
