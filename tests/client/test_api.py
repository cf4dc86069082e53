"""``LogsClient`` against a real server: the same items as paging by hand, resumable from
any page's ``after``; what it refuses to send; answers that are not pages of the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from _remote import ODD, PLAN, Doc, Remote
from atende_logs.client import (
    MAX_PAGE_SIZE,
    ApiError,
    ClientError,
    LogsClient,
    ProtocolError,
    RetryPolicy,
)
from atende_logs.client.api import (
    _checked_page,
    _head_after,
    _page,
    check_params,
    kind_named,
    query_parameters,
)
from atende_logs.kinds import CARDS, CDRS, KINDS


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("size", [1000, 37])
def test_items_are_the_pages_by_hand(
    remote: Remote, reference: dict[str, list[Doc]], kind: str, size: int
) -> None:
    with LogsClient(remote.url, remote.key) as client:
        items = list(client.items(kind, remote.params(kind), size=size))
    assert items == reference[kind]
    assert [list(item) for item in items] == [list(item) for item in reference[kind]]  # key order
    generated = {"attendant-logs": PLAN.attendant_logs, "cdrs": PLAN.cdrs, "cards": PLAN.cards}
    assert len(items) == generated[kind] + len(ODD[kind])


@settings(max_examples=6)
@given(size=st.integers(1, 60), stop=st.integers(0, 100))
def test_pages_resume_from_any_after(
    remote: Remote, reference: dict[str, list[Doc]], size: int, stop: int
) -> None:
    """A listing broken off after any page and resumed from that page's ``after`` gives
    every item once: cards share timestamps, so their cursors are opaque tokens."""
    with LogsClient(remote.url, remote.key) as client:
        first: list[Doc] = []
        after = None
        for number, page in enumerate(client.pages("cards", remote.params("cards"), size=size)):
            first += page.items
            after = page.after
            assert page.total == len(reference["cards"])
            if number == stop:
                break
        rest = list(client.items("cards", remote.params("cards"), after=after, size=size))
    assert first + rest == reference["cards"]


def test_filters_go_to_the_server(remote: Remote, reference: dict[str, list[Doc]]) -> None:
    params = {"start_at": "2024-03-05", "end_at": "2024-03-05", "call_status": "answered"}
    with LogsClient(remote.url + "/", remote.key) as client:
        items = list(client.items("cdrs", params))
    assert items and all(item["call_status"] == "answered" for item in items)
    assert all(item["ori_start_time"].startswith("2024-03-05") for item in items)
    assert len(items) < len(reference["cdrs"])


def test_parameters_are_checked_before_sending() -> None:
    assert query_parameters(CARDS)[:3] == ["token", "start_at", "end_at"]
    assert "call_status" in query_parameters(CDRS)
    with pytest.raises(ValueError, match="unknown kind"):
        kind_named("calls")
    with pytest.raises(ValueError, match="no parameter 'callstatus'"):
        check_params(CDRS, {"callstatus": "answered"})
    with pytest.raises(ValueError, match="token"):
        check_params(CARDS, {"start_at": "2024-01-01"})
    with pytest.raises(ValueError, match="no parameter 'after'"):
        check_params(CDRS, {"after": "1"})  # the client's own
    client = LogsClient("http://127.0.0.1:9", "k")
    with pytest.raises(ValueError, match="size"):
        next(client.pages("cdrs", size=MAX_PAGE_SIZE + 1))
    with pytest.raises(ValueError, match="http"):
        LogsClient("127.0.0.1:8000", "k")


def test_refusals_carry_the_error_body(remote: Remote) -> None:
    with LogsClient(remote.url, remote.key) as client:
        with pytest.raises(ApiError) as caught:
            list(client.items("cdrs", {"start_at": "2024-03-06", "end_at": "2024-03-05"}))
        with pytest.raises(ApiError) as missing:
            list(client.items("cards", {"token": "atl_dlr_nobody"}))
    assert (caught.value.status, caught.value.code) == (400, "invalid_range")
    assert caught.value.parameter == "start_at"
    assert "(400 invalid_range, parameter start_at)" in str(caught.value)
    assert missing.value.status == 404 and missing.value.code == "not_found"
    with LogsClient(remote.url, "atl_live_wrong") as client, pytest.raises(ApiError) as denied:
        list(client.items("cdrs"))
    assert denied.value.status == 401 and "401 unauthorized" in str(denied.value)


def test_odd_documents_come_back_whole(remote: Remote) -> None:
    with LogsClient(remote.url, remote.key) as client:
        odd = [item for item in client.items("attendant-logs") if item.get("id") == "odd-1"]
    assert odd == ODD["attendant-logs"]


# Answers no server of the contract gives: produced by an httpx transport, the network edge.


def _serving(*bodies: Any, status: int = 200, headers: dict[str, str] | None = None) -> LogsClient:
    answers = iter(bodies)

    def handle(request: httpx.Request) -> httpx.Response:
        body = next(answers)
        if isinstance(body, bytes):
            return httpx.Response(status, headers=headers, content=body)
        return httpx.Response(status, headers=headers, json=body)

    return LogsClient(
        "https://logs.test", "k", transport=httpx.MockTransport(handle), sleep=lambda _: None
    )


@pytest.mark.parametrize(
    ("bodies", "message"),
    [
        ((b"<html>oops</html>",), "not JSON"),
        (([1, 2],), "no list of items"),
        (({"total": 1, "after": 1},), "no list of items"),
        (({"total": 1, "after": 5, "items": [1]},), "not JSON objects"),
        (({"total": 1, "after": None, "items": [{}]},), "no usable after"),
        (({"total": 1, "after": True, "items": [{}]},), "no usable after"),
        (({"total": 1, "after": "", "items": [{}]},), "no usable after"),
        (({"total": "1", "after": 5, "items": [{}]},), "whole-number total"),
        (
            ({"total": 2, "after": 5, "items": [{}]}, {"total": 2, "after": 5, "items": [{}]}),
            "same after twice",
        ),
    ],
)
def test_answers_that_are_not_pages(bodies: tuple[Any, ...], message: str) -> None:
    with _serving(*bodies) as client, pytest.raises(ProtocolError, match=message):
        list(client.items("cdrs"))


def test_a_redirect_is_reported_not_followed() -> None:
    client = _serving(b"", status=308, headers={"location": "https://elsewhere.test/"})
    with client, pytest.raises(ApiError, match="redirects to https://elsewhere.test/"):
        list(client.items("cdrs"))


def test_a_refusal_without_the_error_shape() -> None:
    with _serving(b"<h1>Forbidden</h1>\n  by the gateway", status=403) as client:
        with pytest.raises(ApiError, match="<h1>Forbidden</h1> by the gateway"):
            list(client.items("cdrs"))
    with _serving(b"", status=418) as client, pytest.raises(ApiError, match="teapot"):
        list(client.items("cdrs"))


def test_a_transport_that_cannot_work_is_not_retried() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.UnsupportedProtocol("no such scheme")

    client = LogsClient("https://logs.test", "k", transport=httpx.MockTransport(handle))
    with client, pytest.raises(ClientError, match="cannot reach"):
        list(client.items("cdrs"))


def test_the_key_travels_in_the_header_only() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"total": 0, "after": None, "items": []})

    client = LogsClient(
        "https://logs.test/base", "atl_live_secret", transport=httpx.MockTransport(handle)
    )
    with client:
        assert list(client.items("cards", {"token": "t", "tz": "America/Manaus"})) == []
    (request,) = seen
    assert request.headers["x-api-key"] == "atl_live_secret"
    assert "atl_live_secret" not in str(request.url)
    assert request.url.path == "/base/customers/dialer-queue/cards"
    assert dict(request.url.params) == {"tz": "America/Manaus", "size": "1000"}
    assert request.headers["x-dialer-token"] == "t"  # the token too: out of the URL
    assert RetryPolicy().attempts == 8


def test_the_readme_example_runs(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Pulling logs into a file", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("http://127.0.0.1:8000", remote.url).replace("atl_live_…", remote.key)
    code = code.replace("2026-11-01", "2024-03-04").replace("2026-11-30", "2024-03-04")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "cdrs.csv").read_text(encoding="utf-8").startswith("callid,")


def _body(after: Any, items: list[Any], total: int = 7, after_first: bool = True) -> bytes:
    """A page as our server writes it (http.responses.page_body), or with the after last."""
    if after_first:
        return b'{"total":%d,"after":%b,"items":%b}' % (
            total, orjson.dumps(after), orjson.dumps(items)
        )  # fmt: skip
    return orjson.dumps({"items": items, "total": total, "after": after})


@settings(max_examples=100)
@given(after=st.integers(-(2**63), 2**63 - 1) | st.text(min_size=1))
def test_the_after_is_read_from_a_pages_first_bytes(after: int | str) -> None:
    assert _head_after(_body(after, [{"a": 1}])) == after
    assert _head_after(_body(after, [{"a": 1}], after_first=False)) is None


@pytest.mark.parametrize("ahead", [False, True])
@pytest.mark.parametrize("after_first", [False, True])
def test_pages_ahead_or_not_whatever_the_keys_order(ahead: bool, after_first: bool) -> None:
    pages = [
        _body(after, [{"n": n}], after_first=after_first) for n, after in enumerate([10, "t:2", 30])
    ]
    empty = _body(None, [], after_first=after_first)
    with _serving(*pages, empty) as client:
        got = list(client.pages("cdrs", ahead=ahead))
    assert [(page.after, page.items) for page in got] == [
        (10, [{"n": 0}]),
        ("t:2", [{"n": 1}]),
        (30, [{"n": 2}]),
    ]


@pytest.mark.parametrize("ahead", [False, True])
def test_a_first_after_the_body_contradicts(ahead: bool) -> None:
    body = b'{"total":1,"after":5,"items":[{}],"after":6}'
    with _serving(body, _body(None, [])) as client, pytest.raises(ProtocolError, match="first"):
        list(client.pages("cdrs", ahead=ahead))


_json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=5)
_json = st.recursive(
    _json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=400)
# Found in CI: orjson reads an integer past 64 bits as a float, msgspec as an integer.
@example(items=[{}], after=0, total=-(2**63) - 1, order=["total", "after", "items"], indent=False)
@example(items=[{}], after=2**63, total=1, order=["total", "after", "items"], indent=False)
@given(
    items=st.lists(st.dictionaries(st.text(max_size=4), _json, max_size=3), max_size=3)
    | st.lists(_json, max_size=3)
    | _json,
    after=_json_scalars,
    total=_json_scalars,
    order=st.permutations(["items", "after", "total"]),
    indent=st.booleans(),
)
def test_a_page_read_fast_is_the_page_read_whole(
    items: Any, after: Any, total: Any, order: list[str], indent: bool
) -> None:
    """``_page`` finds the items as byte ranges; parsing the whole body (``_checked_page``)
    must give the same page, or the same error, for any body."""
    values = {"items": items, "after": after, "total": total}
    # The standard library's writer: orjson's stops at 64-bit integers, a server's need not.
    body = json.dumps({name: values[name] for name in order}, indent=2 if indent else None).encode()

    def outcome(read: Any) -> Any:
        try:
            page = read(body)
        except ProtocolError as exc:
            return str(exc)
        return None if page is None else (page.total, page.after, page.items)

    assert outcome(_page) == outcome(_checked_page)
