"""Tenant isolation and customer keys, on both databases.

Two customers hold documents with the same ids and times but different contents; whatever
customer A asks, it gets only its own versions. Keys: revocation takes effect at once, a
customer may hold several live keys, and no listing or table ever holds a secret.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from _raw import raw_rows, sqlite_files_hold
from atende_logs import credentials
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, Kind
from atende_logs.models import Customer
from atende_logs.storage import Store

NDJSON = {"content-type": "application/x-ndjson"}
MASK = "****************"
COUNT = 6
EMPTY = {"total": 0, "after": None, "items": []}


# Documents: same ids and times for both owners, different contents ----------------------


def attendant(owner: str, n: int) -> dict[str, Any]:
    code = ord(owner)
    return {
        "id": f"log-{n}",
        # Pairs share a millisecond, so listings hand out string tokens too.
        "timestamp": f"2024-05-10T12:00:0{n // 2}.250Z",
        "owner": owner,
        "kind": f"status-{owner}",
        "screen": f"screen-{owner}{n}",
        "source": f"voip-{owner}",
        "description": f"descricao {owner}{n}",
        "duration": 10 * n + code % 7,
        "attendant": {
            "email": f"{owner.lower()}{n}@atende.com",
            "name": f"Agente {owner}{n}",
            "extension_number": f"{code}{n}",
        },
        "ani_number": f"5563{code}{n:05d}",
        "complements": {"ringing": {"direction": "inbound" if owner == "A" else "outbound"}},
        "call": {"call_id": f"call-{n}"},  # shared by both owners on purpose
        "machine_attributes": {"voipNumberVersion": f"1.{code}.{n}"},
    }


def cdr(owner: str, n: int) -> dict[str, Any]:
    code = ord(owner)
    return {
        "callid": str(69709941 + n),
        "ori_start_time": f"2020-01-27T19:28:1{n // 2}.000-03:00",
        "owner": owner,
        "alt_dnis": f"55{code}0887{n:04d}",
        "ori_billing_time": 60 * n + code,
        "total_charge": f"{n}.{code}",
        "selected_options": f"{n},{code}",
        "zendesk_ticket_id": f"Z{owner}{n}",
        "configuration_kind": f"kind-{owner}",
        "period": f"period-{owner}",
        "call_terminated": owner,
        "call_status": f"status-{owner}",
    }


def card(owner: str, n: int) -> dict[str, Any]:
    return {
        "id": f"card-{n}",
        "timestamp": f"2020-01-31T14:13:2{n // 2}.669Z",
        "owner": owner,
        "number": f"55{ord(owner)}9999{n:04d}",
        "status": f"to_call-{owner}",
        "card_info_1": f"info1 {owner}",
        "card_info_2": f"info2 {owner}{n}",
        "card_info_3": f"NÃO {owner}",
        "token": f"segredo-{owner}",
    }


MAKERS = {ATTENDANT_LOGS.name: attendant, CDRS.name: cdr, CARDS.name: card}


@dataclasses.dataclass
class Tenant:
    owner: str
    customer: Customer
    key: str
    dialer_id: int
    token: str
    docs: dict[str, list[dict[str, Any]]]

    def served(self, kind: Kind) -> list[dict[str, Any]]:
        """Its documents as the API serves them, in listing order (time, then id)."""
        masked = dict.fromkeys(kind.masked_fields, MASK)
        docs = [{**doc, **masked} for doc in self.docs[kind.name]]
        return sorted(docs, key=lambda doc: (doc[kind.time_field], doc[kind.id_field]))


def ingest_path(tenant: Tenant, kind: Kind) -> str:
    path = kind.ingest_path.format(customer_id=tenant.customer.id, dialer_id=tenant.dialer_id)
    return f"/ingest{path}"


def make_tenant(store: Store, owner: str) -> Tenant:
    customer = store.create_customer(f"tenant {owner} {uuid.uuid4().hex[:6]}")
    dialer, token = store.create_dialer(customer.id, f"discador {owner}")
    docs = {name: [make(owner, n) for n in range(COUNT)] for name, make in MAKERS.items()}
    return Tenant(owner, customer, store.create_api_key(customer.id)[1], dialer.id, token, docs)


def send_all(client: TestClient, ingest_key: str, tenant: Tenant) -> list[dict[str, Any]]:
    answers = []
    for kind in (ATTENDANT_LOGS, CDRS, CARDS):
        body = b"".join(orjson.dumps(doc) + b"\n" for doc in tenant.docs[kind.name])
        response = client.post(
            ingest_path(tenant, kind), content=body, headers={"x-ingest-key": ingest_key, **NDJSON}
        )
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


def get(client: TestClient, key: str, kind: Kind, params: dict[str, Any]) -> Any:
    return client.get(kind.path, params=params, headers={"x-api-key": key})


@pytest.fixture
def tenants(client: TestClient, store: Store) -> tuple[Tenant, Tenant]:
    """A and B, A ingested first, then B with the very same ids."""
    ingest_key = store.create_ingest_key("tenancy")[1]
    a, b = make_tenant(store, "A"), make_tenant(store, "B")
    created = {"stored": COUNT, "replaced": 0, "rejected": 0, "rejections": []}
    assert send_all(client, ingest_key, a) == [created] * 3
    # B's documents never replace A's: each is new in B's scope.
    assert send_all(client, ingest_key, b) == [created] * 3
    return a, b


def base_params(tenant: Tenant, kind: Kind) -> dict[str, Any]:
    return {"token": tenant.token} if kind.scope.by_dialer else {}


# Isolation ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [ATTENDANT_LOGS, CDRS, CARDS], ids=lambda kind: kind.name)
def test_each_customer_sees_only_its_own_version(
    client: TestClient, tenants: tuple[Tenant, Tenant], kind: Kind
) -> None:
    for tenant in tenants:
        response = get(client, tenant.key, kind, {**base_params(tenant, kind), "size": 1000})
        assert response.status_code == 200, response.text
        body = response.json()
        served = tenant.served(kind)
        assert body["items"] == served
        assert body["total"] == COUNT
        assert {item["owner"] for item in body["items"]} == {tenant.owner}


def b_param_sets(kind: Kind, b: Tenant) -> list[dict[str, str]]:
    """Every filter with each of B's values, B's time bounds, and all of them at once."""
    sets: list[dict[str, str]] = []
    for doc in b.docs[kind.name][::2]:
        values = {}
        for spec in kind.filters:
            raw = spec.extract(doc)
            if raw is not None:
                values[spec.param] = str(raw)
                sets.append({spec.param: str(raw)})
        sets.append(values)
        moment = doc[kind.time_field]
        sets.append({"start_at": moment, "end_at": moment, "size": "1"})
        sets.append({"start_at": moment, **values, "size": "1"})
    return sets


@pytest.mark.parametrize("kind", [ATTENDANT_LOGS, CDRS, CARDS], ids=lambda kind: kind.name)
def test_no_filter_of_a_reaches_b(
    client: TestClient, tenants: tuple[Tenant, Tenant], kind: Kind
) -> None:
    a, b = tenants
    mine = {orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) for doc in a.served(kind)}
    sets = b_param_sets(kind, b)
    assert len(sets) > COUNT * 3
    for params in sets:
        query = {**base_params(a, kind), "size": 1000, **params}
        response = get(client, a.key, kind, query)
        assert response.status_code == 200, (query, response.text)
        body = response.json()
        assert len(body["items"]) <= body["total"] <= COUNT, query
        for item in body["items"]:
            assert item["owner"] == "A", query
            assert orjson.dumps(item, option=orjson.OPT_SORT_KEYS) in mine, query


def test_a_shared_call_id_finds_only_a_version(
    client: TestClient, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    for n in range(COUNT):
        cdr_id = b.docs[CDRS.name][n]["callid"]
        got = get(client, a.key, CDRS, {"call_id": cdr_id}).json()
        assert got["items"] == [cdr("A", n)]
        log_call = b.docs[ATTENDANT_LOGS.name][n]["call"]["call_id"]
        got = get(client, a.key, ATTENDANT_LOGS, {"call_id": log_call}).json()
        assert got["items"] == [attendant("A", n)]


@pytest.mark.parametrize("kind", [ATTENDANT_LOGS, CDRS, CARDS], ids=lambda kind: kind.name)
def test_after_values_from_b_never_reach_b(
    client: TestClient, tenants: tuple[Tenant, Tenant], kind: Kind
) -> None:
    a, b = tenants
    afters: list[int | str] = []
    params: dict[str, Any] = {**base_params(b, kind), "size": 1}
    while True:
        page = get(client, b.key, kind, params).json()
        if not page["items"]:
            break
        afters.append(page["after"])
        params["after"] = page["after"]
    assert len(afters) == COUNT
    assert any(isinstance(value, str) for value in afters)  # the ties gave tokens
    served = a.served(kind)
    for position, after in enumerate(afters, start=1):
        response = get(client, a.key, kind, {**base_params(a, kind), "after": after})
        if response.status_code == 400:  # a token bound to its customer may be refused
            assert response.json()["error"]["parameter"] == "after"
            continue
        assert response.status_code == 200, response.text
        # A's documents share B's (time, id) positions: the rest of A's listing follows.
        assert response.json()["items"] == served[position:]


def test_dialer_token_of_another_customer_is_404_like_no_dialer(
    client: TestClient, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    nobody = credentials.generate(credentials.DIALER_TOKEN)
    answers = []
    for extra in ({}, {"status": "to_call-B"}, {"card_info_1": "info1 B", "size": 5}):
        for token in (b.token, nobody, "lpnIf8ACeW70YtQNPitLr5DbL2I3ZlU71skFwTJL"):
            response = get(client, a.key, CARDS, {"token": token, **extra})
            assert response.status_code == 404, response.text
            # Each answer has a request id of its own: compare the rest.
            answers.append(response.content.replace(response.headers["x-request-id"].encode(), b""))
    assert len(set(answers)) == 1
    assert json.loads(answers[0])["error"]["status"] == 404
    # B's own key does read B's dialer, so the 404 was about A's scope.
    assert get(client, b.key, CARDS, {"token": b.token}).json()["total"] == COUNT


def test_customer_id_is_not_a_parameter(client: TestClient, tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    for name in ("customer_id", "customer", "dialer_id"):
        response = get(client, a.key, CDRS, {name: b.customer.id})
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["parameter"]) == ("unknown_parameter", name)


# Keys -----------------------------------------------------------------------------------


def test_revocation_takes_effect_on_the_next_request(
    client: TestClient, store: Store, customer: Customer
) -> None:
    info, secret = store.create_api_key(customer.id)
    assert get(client, secret, CDRS, {}).status_code == 200
    assert store.revoke_api_key(info.id)
    revoked = get(client, secret, CDRS, {})
    assert revoked.status_code == 401
    unknown = get(client, credentials.generate(credentials.CUSTOMER_KEY), CDRS, {})
    missing = client.get(CDRS.path)
    # The same answer, but for each request's own id.
    bodies = [
        r.content.replace(r.headers["x-request-id"].encode(), b"")
        for r in (revoked, unknown, missing)
    ]
    assert bodies[0] == bodies[1] == bodies[2]
    assert revoked.json()["error"]["status"] == 401
    assert get(client, secret, ATTENDANT_LOGS, {}).status_code == 401


def test_two_live_keys_and_revoking_one(
    client: TestClient, store: Store, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    (first_info, first), (_, second) = (store.create_api_key(a.customer.id) for _ in range(2))
    expected = get(client, a.key, CDRS, {}).json()
    assert (expected["total"], expected["items"]) == (COUNT, a.served(CDRS))
    for key in (first, second, a.key):
        assert get(client, key, CDRS, {}).json() == expected
    assert store.revoke_api_key(first_info.id)
    assert get(client, first, CDRS, {}).status_code == 401
    assert get(client, second, CDRS, {}).json() == expected
    assert get(client, a.key, CDRS, {}).json() == expected
    assert get(client, b.key, CDRS, {}).json()["items"] == b.served(CDRS)


def hidden_windows(secret: str, prefix: str, width: int = 6) -> list[str]:
    """Pieces of the part of ``secret`` a listing may not show."""
    hidden = secret[len(prefix) :]
    return [hidden[i : i + width] for i in range(len(hidden) - width + 1)]


def assert_reveals_nothing(values: list[Any], secret: str, prefix: str) -> None:
    assert secret.startswith(prefix)
    assert len(secret) - len(prefix) >= 20, "the display prefix shows most of the secret"
    for value in values:
        text = str(value)
        assert secret not in text
        for piece in hidden_windows(secret, prefix):
            assert piece not in text, (value, piece)


def test_key_listing_never_holds_the_secret(store: Store, customer: Customer) -> None:
    created = [store.create_api_key(customer.id) for _ in range(3)]
    revoking_ms = time.time_ns() // 1_000_000
    store.revoke_api_key(created[0][0].id)
    revoked_ms = time.time_ns() // 1_000_000
    listed = store.list_api_keys(customer.id)
    assert [key.id for key in listed] == [info.id for info, _ in created]
    assert revoking_ms <= (listed[0].revoked_at_ms or 0) <= revoked_ms
    assert [key.revoked_at_ms for key in listed[1:]] == [None, None]
    everything = [value for key in listed for value in dataclasses.astuple(key)]
    for info, secret in created:
        assert_reveals_nothing(everything, secret, info.prefix)


def test_cli_keys_list_never_holds_the_secret(
    store: Store, customer: Customer, database_url: str
) -> None:
    created = [store.create_api_key(customer.id) for _ in range(2)]
    env = {**os.environ, "ATENDE_DATABASE_URL": database_url}
    run = subprocess.run(
        [sys.executable, "-m", "atende_logs", "keys", "list", str(customer.id), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert [row["id"] for row in json.loads(run.stdout)] == [info.id for info, _ in created]
    for info, secret in created:
        assert_reveals_nothing([run.stdout, run.stderr], secret, info.prefix)


def test_store_holds_only_a_digest(
    client: TestClient,
    store: Store,
    customer: Customer,
    database_url: str,
) -> None:
    info, secret = store.create_api_key(customer.id)
    assert get(client, secret, CDRS, {}).status_code == 200
    rows = raw_rows(database_url, "SELECT * FROM api_keys WHERE id = ?", [info.id])
    assert len(rows) == 1
    assert_reveals_nothing(list(rows[0]), secret, info.prefix)
    assert_reveals_nothing(
        [value for row in raw_rows(database_url, "SELECT * FROM api_keys", []) for value in row],
        secret,
        info.prefix,
    )
    if database_url.startswith("sqlite:///"):
        assert not sqlite_files_hold(database_url, secret)
