"""Bad requests to the search endpoints: each gets its own status and a precise JSON error.

The issue: an unknown parameter, a malformed value, size out of range, start_at after end_at
or a missing token answers 400 naming the parameter, with a Portuguese message and a stable
English code; nothing is silently ignored. Keys: missing, unknown or revoked get one 401.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from atende_logs import credentials
from atende_logs.models import Customer
from atende_logs.storage import Store

ATT = "/customers/attendants/logs"
CDR = "/customers/cdrs/logs"
CARDS = "/customers/dialer-queue/cards"
TOKEN = "<the customer's dialer token>"
COMMON = ["start_at", "end_at", "after", "size", "tz", "format", "delimiter", "bom"]
ACCEPTED = {  # The spec's URL templates, plus tz, call_status (extension), exports (issue 4).
    ATT: COMMON
    + "attendant_email description duration ani attendant_name source direction "
    "call_id voip_version kind screen extension_number".split(),
    CDR: COMMON
    + "call_id alt_dnis ori_billing_time total_charge selected_options "
    "zendesk_ticket_id configuration_kind period call_terminated call_status".split(),
    CARDS: COMMON + "token number status card_info_1 card_info_2 card_info_3".split(),
}
INVALID, UNKNOWN = "invalid_parameter", "unknown_parameter"
_PT = re.compile(
    r"[áâãàéêíóôõúç]|\b(deve|não|parâmetro|inválid[oa]|obrigatóri[oa]|desconhecid[oa]|"
    r"repetid[oa]|posterior|fora|entre|use|chave|rota|método)\b",
    re.IGNORECASE,
)
_EN = re.compile(r"\b(invalid|must|should|required|unknown|missing|not found|field)\b", re.I)


def portuguese(message: Any) -> bool:
    return (
        isinstance(message, str)
        and bool(message.strip())
        and bool(_PT.search(message))
        and not _EN.search(message)
    )


def assert_error_shape(body: Any, status: int) -> None:
    """``{"error": {"status", "code", "message", "request_id"}}``: code stable English,
    message Portuguese."""
    error = body["error"]
    assert body == {
        "error": {
            "status": status,
            "code": error["code"],
            "message": error["message"],
            "request_id": error["request_id"],
        }
    }
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", error["code"]), error
    assert portuguese(error["message"]), error


def _bad(path: str, code: str, parameter: str, *pairs: tuple[str, str]) -> Any:
    label = "&".join(f"{name}={value}" for name, value in pairs) or "(none)"
    return pytest.param(path, list(pairs), code, parameter, id=f"{path.split('/')[2]}:{label}")


def _malformed(path: str, param: str, *values: str) -> list[Any]:
    extra = [("token", TOKEN)] if path == CARDS else []
    return [_bad(path, INVALID, param, (param, value), *extra) for value in values]


BAD_TIMES = ["2020-13-45", "ontem", "2020-01-01T25:00", "2020-02-30", "2020-01-01T10:00+25:00",
             "1580164093000.5", "99999999999999999999"]  # fmt: skip
BAD = [
    _bad(ATT, UNKNOWN, "attendant_emial", ("attendant_emial", "rh1@atende.com")),
    _bad(ATT, UNKNOWN, "Attendant_email", ("Attendant_email", "rh1@atende.com")),
    _bad(ATT, UNKNOWN, "callid", ("callid", "69709941")),
    _bad(ATT, UNKNOWN, "token", ("token", "x")),  # only cards have a dialer token
    _bad(ATT, UNKNOWN, "limit", ("limit", "10")),
    _bad(ATT, "duplicate_parameter", "size", ("size", "1"), ("size", "2")),
    _bad(ATT, "duplicate_parameter", "kind", ("kind", "status"), ("kind", "status")),
    *_malformed(ATT, "size", "0", "1001", "abc", "1.5", "-1", "²"),
    _bad(ATT, "invalid_range", "start_at", ("start_at", "2020-01-02"), ("end_at", "2020-01-01")),
    _bad(
        ATT, "invalid_range", "start_at", ("start_at", "1580164093001"), ("end_at", "1580164093000")
    ),
    _bad(
        ATT,
        "invalid_range",
        "start_at",
        ("start_at", "2020-01-01T12:00:00.001-03:00"),
        ("end_at", "2020-01-01T15:00:00.000Z"),
    ),
    *_malformed(ATT, "start_at", *BAD_TIMES),
    *_malformed(ATT, "end_at", *BAD_TIMES),
    *_malformed(ATT, "after", "xyz", "t.garbage", "-5", "t.WzEsMl0", "1.5", "t.", "12abc"),
    *_malformed(ATT, "duration", "abc", "NaN", "inf", "1e400", "30s"),
    *_malformed(ATT, "voip_version", "abc", "1..2", "v"),
    *_malformed(ATT, "ani", "abc", "() -", "+"),
    *_malformed(ATT, "tz", "Mars/Olympus", "../../etc/passwd", "-03:00"),
    _bad(CDR, UNKNOWN, "attendant_email", ("attendant_email", "rh1@atende.com")),
    _bad(CDR, UNKNOWN, "callid", ("callid", "69709941")),
    *_malformed(CDR, "size", "0", "1001"),
    *_malformed(CDR, "ori_billing_time", "1.5", "abc", "99999999999999999999"),
    *_malformed(CDR, "total_charge", "abc", "NaN"),
    *_malformed(CDR, "alt_dnis", "sem número"),
    *_malformed(CDR, "start_at", "ontem"),
    _bad(CARDS, "missing_parameter", "token"),
    _bad(CARDS, "missing_parameter", "token", ("status", "to_call")),
    _bad(CARDS, "missing_parameter", "token", ("token", "")),
    _bad(CARDS, UNKNOWN, "card_info_4", ("card_info_4", "x"), ("token", TOKEN)),
    _bad(CARDS, UNKNOWN, "dialer_token", ("dialer_token", TOKEN)),
    _bad(CARDS, "duplicate_parameter", "token", ("token", TOKEN), ("token", TOKEN)),
    *_malformed(CARDS, "size", "0", "1001", "abc"),
    *_malformed(CARDS, "number", "abc"),
    *_malformed(CARDS, "end_at", "2020-13-45"),
]


@pytest.fixture
def dialer_token(store: Store, customer: Customer) -> str:
    return store.create_dialer(customer.id, "discador")[1]


@pytest.mark.parametrize(("path", "pairs", "code", "parameter"), BAD)
def test_bad_request_gets_400_naming_the_parameter(
    client: TestClient,
    api_key: str,
    dialer_token: str,
    path: str,
    pairs: list[tuple[str, str]],
    code: str,
    parameter: str,
) -> None:
    query = [(name, dialer_token if value == TOKEN else value) for name, value in pairs]
    response = client.get(path, params=query, headers={"x-api-key": api_key})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert response.json() == {
        "error": {
            "status": 400,
            "code": code,
            "parameter": parameter,
            "message": error["message"],
            "request_id": response.headers["x-request-id"],
        }
    }
    assert portuguese(error["message"]), error["message"]


@pytest.mark.parametrize("path", [ATT, CDR, CARDS])
@pytest.mark.parametrize("value", ["\x00", "a\x00b"])
def test_control_characters_in_a_filter_never_cause_a_server_error(
    client: TestClient, api_key: str, dialer_token: str, path: str, value: str
) -> None:
    # Not a documented case: either a 400 naming the filter or an empty page is right, and
    # both databases must agree. A 500 is never right.
    param = {ATT: "description", CDR: "selected_options", CARDS: "card_info_1"}[path]
    query = {param: value, **({"token": dialer_token} if path == CARDS else {})}
    response = client.get(path, params=query, headers={"x-api-key": api_key})
    if response.status_code == 200:
        assert response.json() == {"total": 0, "after": None, "items": []}
    else:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["parameter"] == param


@pytest.mark.parametrize("path", [ATT, CDR, CARDS])
def test_empty_values_mean_not_given(
    client: TestClient, api_key: str, dialer_token: str, path: str
) -> None:
    # The spec's URL templates list every parameter with no value (?start_at&end_at&...).
    names = [name for name in ACCEPTED[path] if name != "token"]
    query = [(name, "") for name in names] + ([("token", dialer_token)] if path == CARDS else [])
    response = client.get(path, params=query, headers={"x-api-key": api_key})
    assert (response.status_code, response.json()) == (
        200,
        {"total": 0, "after": None, "items": []},
    )


# A misspelt filter must never return everything -------------------------------------------


@pytest.fixture(scope="session")
def reader(store: Store) -> tuple[str, str]:
    """A customer key and dialer token shared by the examples of the property test below."""
    customer = store.create_customer(f"bad input {uuid.uuid4().hex[:8]}")
    return store.create_api_key(customer.id)[1], store.create_dialer(customer.id, "d")[1]


@settings(max_examples=40)
@given(
    path=st.sampled_from([ATT, CDR, CARDS]),
    name=st.text("abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJ0123456789-.", min_size=1, max_size=20),
    value=st.text("abcxyz0123456789@.", max_size=10),
)
def test_any_unknown_parameter_is_refused(
    client: TestClient, reader: tuple[str, str], path: str, name: str, value: str
) -> None:
    if name in ACCEPTED[path]:
        return
    key, token = reader
    query = [(name, value)] + ([("token", token)] if path == CARDS else [])
    response = client.get(path, params=query, headers={"x-api-key": key})
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["parameter"]) == (
        UNKNOWN,
        name,
    )


# 401: the same answer whatever is wrong with the key --------------------------------------


@pytest.mark.parametrize("path", [ATT, CDR, CARDS])
def test_every_bad_key_gets_the_same_401(
    client: TestClient, store: Store, customer: Customer, dialer_token: str, path: str
) -> None:
    key_info, revoked = store.create_api_key(customer.id)
    query = {"token": dialer_token} if path == CARDS else {}
    before = client.get(path, params=query, headers={"x-api-key": revoked})
    assert before.status_code == 200  # the key worked until it was revoked
    assert store.revoke_api_key(key_info.id)
    keys = [
        None,
        "garbage",
        "",
        credentials.generate(credentials.CUSTOMER_KEY),  # well formed, never issued
        revoked,
        revoked[:-1] + ("A" if revoked[-1] != "A" else "B"),  # checksum broken
        store.create_ingest_key("not a reader")[1],  # ingest keys cannot read
        dialer_token,
    ]
    answers = []
    for key in keys:
        headers = {} if key is None else {"x-api-key": key}
        response = client.get(path, params=query, headers=headers)
        assert response.status_code == 401, (key, response.text)
        # Each answer has a request id of its own: compare the rest.
        answers.append(response.content.replace(response.headers["x-request-id"].encode(), b""))
    assert len(set(answers)) == 1
    assert_error_shape(client.get(path, params=query).json(), 401)


# Routes and methods ------------------------------------------------------------------------


@pytest.mark.parametrize("with_key", [True, False])
@pytest.mark.parametrize(
    "path", ["/customers/attendants/log", "/customers/cdrs", "/nada", "/customers/cards"]
)
def test_unknown_route_is_a_json_404(
    client: TestClient, api_key: str, path: str, with_key: bool
) -> None:
    response = client.get(path, headers={"x-api-key": api_key} if with_key else {})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert_error_shape(response.json(), 404)


WRONG_METHODS = [
    ("POST", ATT, "GET"),
    ("PUT", CDR, "GET"),
    ("DELETE", CARDS, "GET"),
    ("PATCH", ATT, "GET"),
    ("GET", "/ingest/customers/1/cdrs", "POST"),
]


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
def test_wrong_method_is_a_json_405(
    client: TestClient, api_key: str, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path, headers={"x-api-key": api_key})
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/json")
    assert_error_shape(response.json(), 405)


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
def test_405_names_the_allowed_methods(
    client: TestClient, api_key: str, method: str, path: str, allowed: str
) -> None:
    # RFC 9110 section 15.5.6: a 405 response MUST carry an Allow header listing the methods.
    response = client.request(method, path, headers={"x-api-key": api_key})
    assert response.status_code == 405
    assert allowed in response.headers.get("allow", "").replace(" ", "").split(",")
