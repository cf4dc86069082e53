"""The consumer against real brokers and both databases: routing, batching, ack after the
commit, older versions redelivered, dead letters, ``--once``."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from atende_logs.consume.loop import Consumer
from atende_logs.consume.metrics import ConsumerMetrics
from atende_logs.consume.routing import BadRoute, route, subject
from atende_logs.consume.run import consume, open_source
from atende_logs.errors import StoreUnavailableError
from atende_logs.kinds import CARDS, CDRS, KINDS
from atende_logs.models import Customer
from atende_logs.query.times import zone
from atende_logs.storage import Store

UTC = zone("UTC")


def attendant(n: int, **extra: Any) -> dict[str, Any]:
    moment = f"2024-03-01T12:{n // 60 % 60:02d}:{n % 60:02d}.000Z"
    return {"id": f"log-{n}", "timestamp": moment, "kind": "status", **extra}


def cdr(n: int, **extra: Any) -> dict[str, Any]:
    moment = f"2020-01-27T19:{n // 60 % 60:02d}:{n % 60:02d}.000-03:00"
    return {"callid": str(69709941 + n), "ori_start_time": moment, "has_audio": False, **extra}


def card(n: int, second: int = 0, status: str = "to_call") -> dict[str, Any]:
    moment = f"2020-01-31T14:13:{second:02d}.000Z"
    return {"id": f"card-{n}", "number": f"55219999{n:05d}", "status": status, "timestamp": moment}


def ndjson(*docs: Any) -> bytes:
    return b"".join(orjson.dumps(doc) + b"\n" for doc in docs)


@dataclass
class Env:
    client: TestClient
    store: Store
    customer: int
    api_key: str
    dialer: int
    token: str

    def listing(self, kind: str) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"size": 1000}
        if kind == "cards":
            params["token"] = self.token
        response = self.client.get(
            KINDS[kind].path, params=params, headers={"x-api-key": self.api_key}
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
def env(client: TestClient, store: Store, customer: Customer, api_key: str) -> Env:
    dialer, token = store.create_dialer(customer.id, "discador")
    return Env(client, store, customer.id, api_key, dialer.id, token)


def drain(store: Store, broker: Any, batch_size: int = 500) -> ConsumerMetrics:
    """``--once``: consume what is there, then return."""
    return asyncio.run(
        consume(
            store,
            broker.url,
            prefix=broker.prefix,
            zone=UTC,
            batch_size=batch_size,
            wait=0.5,
            once=True,
        )
    )


def value(counter: Any, *labels: str) -> float:
    metric = counter.labels(*labels) if labels else counter
    return float(metric._value.get())


# Routing -----------------------------------------------------------------------------------


@given(customer=st.integers(0, 2**31 - 1), dialer=st.integers(0, 2**31 - 1))
def test_a_subject_made_for_a_route_reads_back_as_it(customer: int, dialer: int) -> None:
    for kind in KINDS.values():
        made = dialer if kind.scope.by_dialer else None
        assert route("p", subject("p", customer, kind, made)) == route(
            "p", f"p.logs.{customer}.{kind.name}" + (f".{made}" if made is not None else "")
        )
        assert route("p", subject("p", customer, kind, made)).dialer_id == made


@pytest.mark.parametrize(
    "name",
    [
        "other.logs.1.cdrs",
        "p.logs.x.cdrs",
        "p.logs.1.nope",
        "p.logs.1.cards",
        "p.logs.1.cdrs.2",
        "p.logs.1.cards.x",
        "p.logs.1",
    ],
)
def test_subjects_that_name_no_route_are_refused(name: str) -> None:
    with pytest.raises(BadRoute):
        route("p", name)


# Against the brokers -----------------------------------------------------------------------


def test_every_kind_is_routed_batched_and_acknowledged(broker: Any, env: Env) -> None:
    logs = [attendant(n) for n in range(30)]
    cdrs = [cdr(n) for n in range(10)]
    cards = [card(n) for n in range(5)]
    prefix = broker.prefix
    messages = [
        (f"{prefix}.logs.{env.customer}.attendant-logs", ndjson(*logs[:20])),
        *[(f"{prefix}.logs.{env.customer}.attendant-logs", orjson.dumps(d)) for d in logs[20:]],
        (f"{prefix}.logs.{env.customer}.cdrs", ndjson(*cdrs)),
        (f"{prefix}.logs.{env.customer}.cards.{env.dialer}", ndjson(*cards)),
    ]
    broker.publish(messages)
    metrics = drain(env.store, broker)
    assert sorted(d["id"] for d in env.listing("attendant-logs")) == sorted(d["id"] for d in logs)
    assert len(env.listing("cdrs")) == len(cdrs)
    assert sorted(d["id"] for d in env.listing("cards")) == [d["id"] for d in cards]
    # One round, one transaction per route; every message acknowledged, none dead.
    assert value(metrics.batches) == 3
    assert value(metrics.messages) == len(messages)
    assert value(metrics.records, "stored") == 45
    assert value(metrics.dead_letters) == 0
    assert broker.waiting()[:2] == (0, 0)


def test_a_small_batch_size_makes_more_transactions(broker: Any, env: Env) -> None:
    prefix = broker.prefix
    broker.publish(
        [(f"{prefix}.logs.{env.customer}.cdrs", orjson.dumps(cdr(n))) for n in range(12)]
    )
    metrics = drain(env.store, broker, batch_size=5)
    assert len(env.listing("cdrs")) == 12
    assert value(metrics.batches) == 3


def test_the_same_messages_twice_are_stored_once(broker: Any, env: Env) -> None:
    messages = [(f"{broker.prefix}.logs.{env.customer}.cdrs", ndjson(*map(cdr, range(8))))]
    broker.publish(messages)
    drain(env.store, broker)
    broker.publish(messages)  # a producer's retry: the same records again
    metrics = drain(env.store, broker)
    assert len(env.listing("cdrs")) == 8
    assert value(metrics.records, "stored") == 0
    assert value(metrics.records, "replaced") == 8


def test_an_older_version_redelivered_never_replaces_a_newer_one(broker: Any, env: Env) -> None:
    where = f"{broker.prefix}.logs.{env.customer}.cards.{env.dialer}"
    older, newer = card(1, second=10, status="to_call"), card(1, second=20, status="called")
    broker.publish([(where, orjson.dumps(newer))])
    drain(env.store, broker)
    broker.publish([(where, orjson.dumps(older))])  # delivered again, late
    drain(env.store, broker)
    assert [d["status"] for d in env.listing("cards")] == ["called"]
    # Within one round too, whatever the order the messages came in.
    other_older, other_newer = card(2, 30, "to_call"), card(2, 40, "called")
    broker.publish([(where, orjson.dumps(other_newer)), (where, orjson.dumps(other_older))])
    drain(env.store, broker)
    statuses = {d["id"]: d["status"] for d in env.listing("cards")}
    assert statuses == {"card-1": "called", "card-2": "called"}
    # A newer one still replaces.
    broker.publish([(where, orjson.dumps(card(1, second=50, status="done")))])
    drain(env.store, broker)
    assert {d["id"]: d["status"] for d in env.listing("cards")}["card-1"] == "done"


def test_bad_messages_are_dead_lettered_with_their_reasons(broker: Any, env: Env) -> None:
    prefix = broker.prefix
    good = cdr(1)
    bad = [
        (f"{prefix}.logs.{env.customer}.cdrs", b"not json at all"),
        (f"{prefix}.logs.999999999.cdrs", orjson.dumps(cdr(2))),
        (f"{prefix}.logs.{env.customer}.nope", orjson.dumps(cdr(3))),
        (f"{prefix}.logs.{env.customer}.cards.999999999", orjson.dumps(card(4))),
        (f"{prefix}.logs.{env.customer}.cdrs", ndjson({"callid": "1"}, {"no": "time"})),
        (f"{prefix}.logs.{env.customer}.cdrs", b""),
    ]
    partial = (f"{prefix}.logs.{env.customer}.cdrs", ndjson(good, {"callid": "x"}))
    broker.publish([*bad, partial])
    metrics = drain(env.store, broker)
    assert [d["callid"] for d in env.listing("cdrs")] == [good["callid"]]
    dead = broker.dead_letters()
    assert [d.data for d in dead] == [data for _, data in [*bad, partial]]
    reasons = [d.reason for d in dead]
    assert "recusada" in reasons[0]
    assert "cliente desconhecido: 999999999" in reasons[1]
    assert "tipo desconhecido: nope" in reasons[2]
    assert "discador desconhecido: 999999999" in reasons[3]
    assert reasons[4].startswith("recusada") and '"position":2' in reasons[4]
    assert reasons[5] == "mensagem sem registros"
    assert reasons[6].startswith("registros recusados (os demais foram gravados)")
    assert all(d.subject.startswith(f"{prefix}.dead.") for d in dead)
    # Nothing is left waiting or unacknowledged: bad messages never block.
    assert broker.waiting()[:2] == (0, 0)
    assert value(metrics.dead_letters) == len(dead)


class FailingStore:
    """The store, failing its first ``failures`` writes as a database outage would."""

    def __init__(self, store: Store, failures: int) -> None:
        self._store = store
        self.failures = failures

    def write_rows(self, *args: Any, **kwargs: Any) -> tuple[int, int]:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailableError("o banco de dados não responde")
        return self._store.write_rows(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_nothing_is_acknowledged_before_the_commit(broker: Any, env: Env) -> None:
    where = f"{broker.prefix}.logs.{env.customer}.cdrs"
    broker.publish([(where, orjson.dumps(cdr(n))) for n in range(6)])

    async def first_round() -> None:
        source = await open_source(broker.url, broker.prefix, ack_wait=30)
        failing: Any = FailingStore(env.store, failures=1)
        consumer = Consumer(failing, source, prefix=broker.prefix, zone=UTC, wait=0.5)
        deliveries = await source.fetch(100, 0.5)
        assert len(deliveries) == 6
        with pytest.raises(StoreUnavailableError):
            await consumer.handle(deliveries)
        await source.close()

    asyncio.run(first_round())
    assert env.listing("cdrs") == []
    assert broker.acknowledged() == 0
    metrics = drain(env.store, broker)
    assert len(env.listing("cdrs")) == 6
    assert value(metrics.failures) == 0
    assert broker.acknowledged() == 6
    assert broker.waiting()[:2] == (0, 0)


def test_an_outage_backs_off_and_resumes_by_itself(broker: Any, env: Env) -> None:
    where = f"{broker.prefix}.logs.{env.customer}.cdrs"
    broker.publish([(where, orjson.dumps(cdr(n))) for n in range(4)])

    async def run() -> ConsumerMetrics:
        source = await open_source(broker.url, broker.prefix, ack_wait=30)
        failing: Any = FailingStore(env.store, failures=2)
        consumer = Consumer(failing, source, prefix=broker.prefix, zone=UTC, wait=0.5)
        await consumer.run(once=True)
        await source.close()
        return consumer.metrics

    metrics = asyncio.run(run())
    assert value(metrics.failures) >= 2
    assert len(env.listing("cdrs")) == 4
    assert broker.waiting()[:2] == (0, 0)


def test_once_returns_at_once_when_nothing_waits(broker: Any, env: Env) -> None:
    broker.publish([])
    metrics = drain(env.store, broker)
    assert value(metrics.messages) == 0


def test_unique_prefixes_keep_tests_apart() -> None:
    assert uuid.uuid4().hex != uuid.uuid4().hex
    assert CARDS.scope.by_dialer and not CDRS.scope.by_dialer
