"""No database dump, server log line or response ever holds a usable secret (issue 5).

On each database: customer keys (one revoked after use, one of another customer), an ingest
key and dialer tokens (one rotated after use) are created; cards carrying the dialer token
are ingested over HTTP (NDJSON and CSV, and one the server rejects); every route of the
OpenAPI document is called with them, the cards listing with the token as its query
parameter, in every format. Then each secret, whole and by its random part alone, is
searched for in a dump of the database (SQLite: ``iterdump()`` and the raw bytes of the
file and its WAL, read by another process; PostgreSQL: every column of every row of every
table, as text), in what
the real server process wrote to stdout and stderr, and in every response's status line,
headers and body. None is found. The same search finds a secret planted in each place on
purpose, so a search that could not find anything would fail here.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import orjson
import psycopg

from _raw import sqlite_dump
from _remote import Server
from atende_logs import credentials
from atende_logs.models import Customer
from atende_logs.storage import Store

CARD_TIME = "2024-03-05T15:00:00.500-03:00"


def random_part(secret: str) -> str:
    """The secret without its type prefix and checksum: the part a leak would expose."""
    kind = next(k for k in (credentials.CUSTOMER_KEY, credentials.INGEST_KEY,
                            credentials.DIALER_TOKEN) if secret.startswith(k))  # fmt: skip
    return secret[len(kind) : -6]


def found(haystack: bytes, secret: str) -> list[str]:
    """Which of the secret's forms (whole, random part) ``haystack`` holds."""
    return [form for form in (secret, random_part(secret)) if form.encode() in haystack]


def database_dump(database_url: str) -> bytes:
    if database_url.startswith("sqlite"):
        return sqlite_dump(database_url)
    rows: list[bytes] = []
    with psycopg.connect(database_url) as connection:
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        for (table,) in tables:
            for (row,) in connection.execute(f'SELECT t::text FROM "{table}" t'):
                rows.append(row.encode())
    assert rows, "the dump read nothing"
    return b"\n".join(rows)


def as_bytes(response: httpx.Response) -> bytes:
    """Everything the client received: status line, every header, the body."""
    head = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}".encode()]
    head += [name + b": " + value for name, value in response.headers.raw]
    return b"\r\n".join(head) + b"\r\n\r\n" + response.content


def _cards_ndjson(token: str) -> bytes:
    cards = [
        {"id": f"leak-{n}", "number": f"551199999{n:04d}", "timestamp": CARD_TIME, "token": token}
        for n in range(3)
    ]
    cards.append({"id": "leak-bad", "number": "5511", "timestamp": "never", "token": token})
    return b"".join(orjson.dumps(card) + b"\n" for card in cards)


def _cards_csv(token: str) -> bytes:
    header = "number;status;timestamp;token"
    rows = [f"55119888800{n:02d};to_call;{CARD_TIME};{token}" for n in range(2)]
    return ("\r\n".join([header, *rows]) + "\r\n").encode()


class Caller:
    """An HTTP client that keeps every response and every route template it called."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=60)
        self.received: list[bytes] = []
        self.routes: set[tuple[str, str]] = set()

    def __call__(
        self, method: str, route: str, path: str | None = None, **kwargs: object
    ) -> httpx.Response:
        response = self.http.request(method, path or route, **kwargs)  # type: ignore[arg-type]
        self.received.append(as_bytes(response))
        self.routes.add((method.lower(), route))
        return response


def test_no_secret_in_dump_logs_or_responses(
    database_url: str, store: Store, tmp_path: Path
) -> None:
    customer = store.create_customer(f"leaks {uuid.uuid4().hex[:8]}")
    other: Customer = store.create_customer(f"leaks other {uuid.uuid4().hex[:8]}")
    _, key = store.create_api_key(customer.id)
    revoked_info, revoked = store.create_api_key(customer.id)
    _, other_key = store.create_api_key(other.id)
    _, ingest_key = store.create_ingest_key(f"leaks {uuid.uuid4().hex[:8]}")
    dialer, old_token = store.create_dialer(customer.id, "Discador")
    _, other_token = store.create_dialer(other.id, "Outro")
    secrets = [key, revoked, other_key, ingest_key, old_token, other_token]
    planted = credentials.generate(credentials.CUSTOMER_KEY)
    store.create_customer(planted)  # planted in the database, in clear

    log = tmp_path / "server.log"
    with Server(database_url, log) as server:
        call = Caller(server.url)
        customer_key = {"x-api-key": key}
        ingesting = {"x-ingest-key": ingest_key}
        cards_route = "/ingest/customers/{customer_id}/dialers/{dialer_id}/cards"
        cards_path = f"/ingest/customers/{customer.id}/dialers/{dialer.id}/cards"

        def ingest_cards(token: str) -> None:
            sent = call(
                "POST", cards_route, cards_path, content=_cards_ndjson(token),
                headers={**ingesting, "content-type": "application/x-ndjson"},
            )  # fmt: skip
            assert sent.status_code == 200 and orjson.loads(sent.content)["rejected"] == 1
            sent = call(
                "POST", cards_route, cards_path, content=_cards_csv(token),
                headers={**ingesting, "content-type": "text/csv"},
            )  # fmt: skip
            assert sent.status_code == 200, sent.text
            # Both rows land: new the first time, replacing themselves (same dialer, number
            # and time) the next.
            summary = orjson.loads(sent.content)
            assert summary["stored"] + summary["replaced"] == 2 and summary["rejected"] == 0

        def list_everything(token: str) -> None:
            for route in ("/customers/attendants/logs", "/customers/cdrs/logs"):
                for fmt in ("json", "ndjson", "csv"):
                    got = call("GET", route, params={"format": fmt}, headers=customer_key)
                    assert got.status_code == 200, got.text
            cards = "/customers/dialer-queue/cards"
            for fmt in ("json", "ndjson", "csv"):
                got = call("GET", cards, params={"token": token, "format": fmt},
                           headers=customer_key)  # fmt: skip
                assert got.status_code == 200, got.text
            # The change feeds hand out the same documents (issue 16).
            for route in ("/customers/attendants/logs", "/customers/cdrs/logs"):
                got = call("GET", f"{route}/changes", headers=customer_key)
                assert got.status_code == 200, got.text
            got = call("GET", f"{cards}/changes", params={"token": token}, headers=customer_key)
            assert got.status_code == 200 and b"leak" in got.content, got.text
            month = {"start_at": "2020-01-01", "end_at": "2020-01-31"}
            for route in ("/customers/attendants/logs", "/customers/cdrs/logs"):
                got = call("GET", f"{route}/stats", params=month, headers=customer_key)
                assert got.status_code == 200, got.text
            got = call("GET", f"{cards}/stats", params={"token": token, **month},
                       headers=customer_key)  # fmt: skip
            assert got.status_code == 200, got.text
            page = call("GET", cards, params={"token": token, "size": "1"}, headers=customer_key)
            assert orjson.loads(page.content)["total"] >= 3
            after = str(orjson.loads(page.content)["after"])
            call("GET", cards, params={"token": token, "size": "1", "after": after},
                 headers=customer_key)  # fmt: skip
            # Refusals: another customer's token, keys used where they do not belong.
            assert call("GET", cards, params={"token": other_token},
                        headers=customer_key).status_code == 404  # fmt: skip
            assert call("GET", cards, params={"token": token},
                        headers={"x-api-key": other_key}).status_code == 404  # fmt: skip
            assert call("GET", cards, params={"token": token},
                        headers={"x-api-key": ingest_key}).status_code == 401  # fmt: skip
            assert call("POST", cards_route, cards_path, content=b"{}",
                        headers={"x-ingest-key": key}).status_code == 401  # fmt: skip
            # A key sent in the query by mistake, and a token with a typo.
            call("GET", "/customers/cdrs/logs", params={"key": key}, headers=customer_key)
            call("GET", cards, params={"token": token[:-1]}, headers=customer_key)

        ingest_cards(old_token)
        list_everything(old_token)
        new_token = store.rotate_dialer_token(customer.id, dialer.id)
        secrets.append(new_token)
        ingest_cards(new_token)
        list_everything(new_token)
        assert call("GET", "/customers/dialer-queue/cards", params={"token": old_token},
                    headers=customer_key).status_code == 404  # fmt: skip

        for route, kind in (
            ("/ingest/customers/{customer_id}/attendant-logs", "attendant-logs"),
            ("/ingest/customers/{customer_id}/cdrs", "cdrs"),
        ):
            doc = {"id": f"leak-{kind}", "timestamp": CARD_TIME, "callid": "leak-call",
                   "ori_start_time": CARD_TIME}  # fmt: skip
            path = route.format(customer_id=customer.id)
            sent = call("POST", route, path, content=orjson.dumps(doc), headers=ingesting)
            assert sent.status_code == 200, sent.text

        assert call("GET", "/customers/cdrs/logs",
                    headers={"x-api-key": revoked}).status_code == 200  # fmt: skip
        store.revoke_api_key(revoked_info.id)
        assert call("GET", "/customers/cdrs/logs",
                    headers={"x-api-key": revoked}).status_code == 401  # fmt: skip
        for route in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc"):
            assert call("GET", route, headers=customer_key).status_code == 200

        # Planted where a log line and a response repeat what the client sent.
        planted_call = call(
            "GET", "/customers/cdrs/logs", params={"size": random_part(planted)},
            headers=customer_key,
        )  # fmt: skip
        assert planted_call.status_code == 400
        openapi = orjson.loads(call("GET", "/openapi.json").content)
        call.http.close()

    every_route = {
        (method, path) for path, item in openapi["paths"].items() for method in item
    }  # fmt: skip
    assert every_route <= call.routes, every_route - call.routes

    places = {
        "database dump": database_dump(database_url),
        "server log": log.read_bytes(),
        "responses": b"\n".join(call.received),
    }
    for place, haystack in places.items():
        assert found(haystack, planted), f"the search cannot find a planted secret in {place}"
        for secret in secrets:
            assert found(haystack, secret) == [], f"{place} holds a secret"
