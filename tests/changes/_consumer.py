"""A change feed consumer as a client writes one, and the list endpoint's answer to compare
its copy with: what the feed's contract tests (tests/changes/) hold the server to."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from fastapi.testclient import TestClient

from atende_logs import normalize
from atende_logs.ingest.documents import to_row
from atende_logs.kinds import Kind
from atende_logs.query.times import zone as zone_named

Doc = dict[str, Any]


class Consumer:
    """Applies a feed's changes, in order, to a copy keyed by id, following cursors."""

    def __init__(
        self,
        client: TestClient,
        kind: Kind,
        key: str,
        params: dict[str, str] | None = None,
        token: str | None = None,
        zone: tzinfo | None = None,
    ) -> None:
        self.client = client
        self.kind = kind
        self.zone = zone or zone_named(client.app.state.settings.timezone)
        """Where the records' offset-less times were read at ingest: the server's zone
        unless the test ingested them in another (a retention mark compares their times)."""
        self.headers = {"x-api-key": key}
        self.params = dict(params or {})
        if token is not None:
            self.params["token"] = token
        self.copy: dict[str, Doc] = {}
        self.cursor: str | None = None
        self.received: list[dict[str, Any]] = []
        """Every change received, in order."""

    def pull(self, size: int = 1000, wait: int = 0) -> dict[str, Any]:
        """One request: apply its changes, keep its cursor; the answer."""
        params = {**self.params, "size": str(size)}
        if wait:
            params["wait"] = str(wait)
        if self.cursor is not None:
            params["since"] = self.cursor
        response = self.client.get(self.kind.changes_path, params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        self.apply(answer)
        return answer

    def apply(self, answer: dict[str, Any]) -> None:
        for change in answer["changes"]:
            self.received.append(change)
            if change["op"] == "upsert":
                self.copy[change["id"]] = change["item"]
            elif change["op"] == "expire":
                self.expire(change)
            else:
                assert change["op"] == "delete" and "item" not in change, change
                self.copy.pop(change["id"], None)
        self.cursor = answer["cursor"]

    def expire(self, mark: dict[str, Any]) -> None:
        """A retention mark: every copied record whose time is before ``before`` goes. Its
        time is what the server stored for it, from ingest's own function."""
        assert set(mark) == {"op", "before", "changed_at"}, mark
        assert mark["before"].endswith("Z") and mark["changed_at"].endswith("Z"), mark
        before_ms = normalize.epoch_ms(datetime.fromisoformat(mark["before"]))
        for id_, doc in list(self.copy.items()):
            if to_row(self.kind, doc, self.zone).time_ms < before_ms:
                del self.copy[id_]

    def catch_up(self, size: int = 1000) -> None:
        """Pull until the feed says nothing is left."""
        for _ in range(10_000):
            if self.pull(size)["end_of_stream"]:
                return
        raise AssertionError("the feed never reached its end")


def listing(
    client: TestClient, kind: Kind, key: str, params: dict[str, str] | None = None
) -> dict[str, Doc]:
    """Every item the list endpoint returns for ``params``, by id, walking its pages."""
    found: dict[str, Doc] = {}
    query = {**(params or {}), "size": "1000"}
    while True:
        response = client.get(kind.path, params=query, headers={"x-api-key": key})
        assert response.status_code == 200, response.text
        page = response.json()
        for item in page["items"]:
            found[str(item[kind.id_field])] = item
        if page["after"] is None or not page["items"]:
            return found
        query["after"] = str(page["after"])
