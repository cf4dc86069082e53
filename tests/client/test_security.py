"""What the client does with secrets and spreadsheets (issue 21): the key never goes over plain
http:// to another machine (2.12), the dialer token travels in a header and never in a URL
(2.10), and a CSV pull neutralises formulas unless told not to (2.3)."""

from __future__ import annotations

import csv
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from _export_data import BASE_MS, make_docs, new_tenant, put
from _remote import Remote
from atende_logs.cli.main import app
from atende_logs.client import LogsClient, Output, pull_to_file
from atende_logs.client.api import check_transport
from atende_logs.client.state import PullSpec
from atende_logs.export.columns import header
from atende_logs.kinds import CDRS
from atende_logs.storage import Store

runner = CliRunner()
PAYLOAD = '=HYPERLINK("http://evil.test";"Clique")'
EMPTY = {"total": 0, "after": None, "items": []}


# 2.12: plain http:// only to this machine ------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com",
        "http://127.0.0.1:8000",
        "http://127.8.9.10/base",
        "http://[::1]:8000",
        "http://localhost:8000",
        "http://LOCALHOST",
    ],
)
def test_loopback_and_https_are_allowed(url: str) -> None:
    check_transport(url)
    LogsClient(url, "k").close()


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com",
        "http://10.0.0.7:8000",
        "http://128.0.0.1",
        "http://[::2]:8000",
        "http://localhost.evil.test",
        "http://127.0.0.1.nip.io",
        "http://0.0.0.0:8000",
    ],
)
def test_plain_http_elsewhere_is_refused_unless_allowed(url: str) -> None:
    with pytest.raises(ValueError, match="refusing to send the API key over plain http://"):
        LogsClient(url, "k")
    LogsClient(url, "k", allow_insecure_http=True).close()


def test_pull_refuses_plain_http_and_says_how_to_allow_it(tmp_path: Path) -> None:
    args = ["pull", "cdrs", "--url", "http://logs.example.com", "-o", str(tmp_path / "x")]
    refused = runner.invoke(app, [*args, "--key", "k"])
    assert refused.exit_code == 2
    said = " ".join(refused.stderr.replace("│", " ").split())
    assert "refusing to send the API key over plain http://" in said
    assert "--allow-insecure-http" in said
    assert list(tmp_path.iterdir()) == []


def test_allowed_plain_http_reaches_the_network(tmp_path: Path) -> None:
    """Allowed, the pull goes on and fails only at connecting (nothing listens there)."""
    args = ["pull", "cdrs", "--url", "http://192.0.2.1:9", "-o", str(tmp_path / "x")]
    result = runner.invoke(
        app, [*args, "--key", "k", "--allow-insecure-http", "--retries", "1", "--timeout", "0.2"]
    )
    assert result.exit_code == 1, result.output
    assert "refusing" not in result.stderr


# 2.10: the dialer token in a header ------------------------------------------------------


def _recording(seen: list[httpx.Request], **options: Any) -> LogsClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=EMPTY)

    return LogsClient("https://logs.test", "k", transport=httpx.MockTransport(handle), **options)


def test_the_token_goes_in_the_header_never_in_the_url() -> None:
    seen: list[httpx.Request] = []
    with _recording(seen) as client:
        assert list(client.items("cards", {"token": "atl_dlr_x", "tz": "UTC"})) == []
    (request,) = seen
    assert request.headers["x-dialer-token"] == "atl_dlr_x"
    assert "atl_dlr_x" not in str(request.url)
    assert dict(request.url.params) == {"tz": "UTC", "size": "1000"}


def test_the_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATENDE_DIALER_TOKEN", "atl_dlr_env")
    seen: list[httpx.Request] = []
    with _recording(seen) as client:
        list(client.items("cards"))
        list(client.items("cards", {"token": "atl_dlr_given"}))  # a given token wins
        list(client.items("cdrs"))  # only cards have a dialer
    assert [r.headers.get("x-dialer-token") for r in seen] == ["atl_dlr_env", "atl_dlr_given", None]
    monkeypatch.delenv("ATENDE_DIALER_TOKEN")
    with _recording(seen, dialer_token="atl_dlr_arg") as client:
        list(client.items("cards"))
    assert seen[-1].headers["x-dialer-token"] == "atl_dlr_arg"
    with _recording(seen) as client, pytest.raises(ValueError, match="ATENDE_DIALER_TOKEN"):
        list(client.items("cards"))


def test_token_in_url_for_a_server_of_the_contract_alone() -> None:
    seen: list[httpx.Request] = []
    with _recording(seen, token_in_url=True) as client:
        list(client.items("cards", {"token": "atl_dlr_x"}))
    assert seen[0].url.params["token"] == "atl_dlr_x"
    assert "x-dialer-token" not in seen[0].headers


def test_pull_takes_the_token_from_the_environment(
    remote: Remote, reference: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    output = tmp_path / "cards.ndjson"
    env = {"ATENDE_API_KEY": remote.key, "ATENDE_DIALER_TOKEN": remote.token}
    result = runner.invoke(app, ["pull", "cards", "--url", remote.url, "-o", str(output)], env=env)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    assert [orjson.loads(line) for line in output.read_bytes().splitlines()] == reference["cards"]


def test_pull_warns_about_token_on_the_command_line(remote: Remote, tmp_path: Path) -> None:
    args = ["pull", "cards", "--url", remote.url, "-o", str(tmp_path / "c.ndjson")]
    env = {"ATENDE_API_KEY": remote.key, "ATENDE_DIALER_TOKEN": ""}
    result = runner.invoke(app, [*args, "--token", remote.token, "--json"], env=env)
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "warning: --token is visible to every user of this machine (ps)" in said
    assert "ATENDE_DIALER_TOKEN" in said
    assert orjson.loads(result.stdout)["items"] > 0  # and it worked


# 2.3: CSV formulas in a pull -------------------------------------------------------------


@pytest.fixture
def formula_server(store: Store, remote: Remote) -> Iterator[tuple[Remote, str]]:
    """The session's server, and the key of a customer of its own whose one CDR carries a
    formula in an agent-typed field."""
    tenant = new_tenant(store)
    (doc,) = make_docs("cdrs", [BASE_MS], random.Random(2))
    doc |= {"my_status_name": PAYLOAD, "callid": f"formula-{uuid.uuid4().hex[:6]}"}
    put(store, tenant, "cdrs", [doc])
    yield remote, tenant.key


def _pulled_row(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as file:
        head, row = list(csv.reader(file))
    assert head == header(CDRS)
    return dict(zip(head, row, strict=True))


@pytest.mark.parametrize(("option", "expected"), [([], "'" + PAYLOAD), (["raw"], PAYLOAD)])
def test_a_csv_pull_escapes_formulas_unless_raw(
    formula_server: tuple[Remote, str], tmp_path: Path, option: list[str], expected: str
) -> None:
    remote, key = formula_server
    output = tmp_path / "cdrs.csv"
    flags = ["--csv-formulas", *option] if option else []
    args = ["pull", "cdrs", "--url", remote.url, "-o", str(output), *flags]
    result = runner.invoke(app, args, env={"ATENDE_API_KEY": key})
    assert result.exit_code == 0, result.output
    row = _pulled_row(output)
    assert row["my_status_name"] == expected
    assert row["ani_long"] == "-48.3317167"
    # The library says the same.
    again = tmp_path / "again.csv"
    formulas = "raw" if option else "escape"
    with LogsClient(remote.url, key) as client:
        pull_to_file(client, "cdrs", {}, again, Output("csv", formulas=formulas))
    assert again.read_bytes() == output.read_bytes()


def test_raw_and_escaped_are_different_pulls() -> None:
    escaped = PullSpec("https://x", CDRS, (), Output("csv"))
    raw = PullSpec("https://x", CDRS, (), Output("csv", formulas="raw"))
    assert escaped.fingerprint() != raw.fingerprint()
    assert escaped.described()["formulas"] == "escape"
    ndjson = PullSpec("https://x", CDRS, (), Output("ndjson", formulas="raw"))
    assert "formulas" not in ndjson.described()  # NDJSON's bytes do not depend on it
    with pytest.raises(ValueError, match="formulas"):
        Output("csv", formulas="off")  # type: ignore[arg-type]
