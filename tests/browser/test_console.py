"""The console in real Chromium (Debian's, through Playwright), against a real server on
each database: paste a key, filter CDRs by status over a range, page to the end, click a
chart bar, download the CSV, and meet a revoked key; the same by keyboard alone, on a
phone's width, and on cards with their dialer token (issue 20).

Screenshots go to ``artifacts/console/`` (not committed; CI keeps them)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from atende_logs.ingest.batch import ingest
from atende_logs.ingest.demo_loading import as_records
from atende_logs.kinds import CARDS, CDRS
from atende_logs.storage import Store
from bench.server import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"
BASE = datetime(2024, 5, 6, 0, 7, tzinfo=UTC)
STATUSES = ["answered", "abandoned", "busy"]
RANGE = {"start_at": "2024-05-06T00:00", "end_at": "2024-05-09T23:59", "tz": "UTC"}

if not Path(CHROMIUM).exists():
    reason = "Chromium not installed: apt-get install -y chromium chromium-driver"
    if os.environ.get("ATENDE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(reason)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def data(store: Store) -> dict[str, Any]:
    """A customer with 400 CDRs over three days, a live key and a key to revoke."""
    customer = store.create_customer(f"console {uuid.uuid4().hex[:8]}")
    docs = [
        {
            "callid": f"call-{n:04}",
            "ori_start_time": (BASE + n * timedelta(minutes=13)).isoformat(),
            "call_status": STATUSES[n % 3],
            "alt_dnis": f"55119{n:08}",
            "duration_call": n % 300,
        }
        for n in range(400)
    ]
    ingest(store, customer.id, CDRS, as_records(docs), zone=UTC)
    dialer, token = store.create_dialer(customer.id, "console")
    cards = [
        {
            "id": f"card-{n:03}",
            "timestamp": (BASE + n * timedelta(minutes=41)).isoformat(),
            "status": STATUSES[n % 3],
            "number": f"55119{n:08}",
        }
        for n in range(120)
    ]
    ingest(store, customer.id, CARDS, as_records(cards), zone=UTC, dialer_id=dialer.id)
    revoked, revoked_key = store.create_api_key(customer.id)
    return {
        "key": store.create_api_key(customer.id)[1],
        "revoked": (revoked, revoked_key),
        "token": token,
    }


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(database_url, tmp_path_factory.mktemp("console") / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    outside: list[str] = []
    opened.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(server.url) else None,
    )
    yield opened
    context.close()
    assert outside == []  # the console asks no other host for anything


def shot(page: Page, name: str, backend: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{backend}-{name}.png"), full_page=True)


def api(server: Server, key: str, path: str, **params: str) -> httpx.Response:
    response = httpx.get(server.url + path, params=params, headers={"x-api-key": key})
    assert response.status_code == 200, response.text
    return response


def search(page: Page, server: Server, key: str, kind: str, **fields: str) -> None:
    """Paste ``key``, pick ``kind`` over ``RANGE``, fill its filter ``fields``, search."""
    page.goto(server.url + "/console")
    page.fill("#key", key)
    page.click("#key-form button[type=submit]")
    page.select_option("#kind", kind)
    page.fill("#start_at", RANGE["start_at"])
    page.fill("#end_at", RANGE["end_at"])
    page.fill("#tz", RANGE["tz"])
    for name, value in fields.items():
        page.fill(f'fieldset[data-kind="{kind}"] input[name="{name}"]', value)
    page.click("#search button[type=submit]")


def search_cdrs(page: Page, server: Server, key: str, status: str) -> None:
    search(page, server, key, "cdrs", call_status=status)


def click_bar(page: Page, index: int) -> None:
    """A mouse click on the chart's ``index``-th bar, near its foot."""
    x, y = page.evaluate(
        """(i) => { const c = window.atendeConsole.chart;
                    const box = c.over.getBoundingClientRect();
                    return [box.left + c.valToPos(c.data[0][i], 'x'), box.bottom - 5]; }""",
        index,
    )
    page.mouse.click(x, y)


def test_filter_page_to_the_end_chart_and_download(
    page: Page, server: Server, data: dict[str, Any], database_url: str, tmp_path: Path
) -> None:
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    key = data["key"]
    search_cdrs(page, server, key, "answered")
    expected = api(server, key, CDRS.path, call_status="answered", size="1", **RANGE).json()
    expect(page.locator("#total")).to_have_attribute("data-total", str(expected["total"]))
    assert expected["total"] > 100  # more than a page: "Mais itens" is needed
    shot(page, "results", backend)

    while page.locator("#more").is_visible():
        before = page.locator("tr.item").count()
        page.click("#more")
        expect(page.locator("tr.item")).not_to_have_count(before)
    ids = page.locator("tr.item td:last-child").all_inner_texts()
    assert len(ids) == expected["total"] == len(set(ids))

    # A row expands to the whole document.
    page.locator("tr.item").first.click()
    expect(page.locator("tr.detail").first).to_be_visible()
    assert '"callid"' in page.locator("tr.detail pre").first.inner_text()

    # A click on a bar narrows the range to it (a day bar: to that day, by hour).
    stats = api(server, key, CDRS.stats_path, call_status="answered", split="call_status",
                interval="day", **RANGE).json()  # fmt: skip
    index = next(i for i, bar in enumerate(stats["buckets"]) if bar["total"])
    click_bar(page, index)
    bar = stats["buckets"][index]
    expect(page.locator("#start_at")).to_have_value(bar["start"][:16])
    expect(page.locator("#total")).to_have_attribute("data-total", str(bar["total"]))
    shot(page, "narrowed", backend)

    # The CSV download is the export endpoint's answer for the same request, byte for byte.
    with page.expect_download() as started:
        page.click("#csv")
    saved = tmp_path / "download.csv"
    started.value.save_as(saved)
    narrowed = {"start_at": bar["start"][:10] + "T00:00", "end_at": bar["start"][:10] + "T23:59"}
    export = api(server, key, CDRS.path, call_status="answered", format="csv", delimiter=";",
                 bom="true", **(RANGE | narrowed))  # fmt: skip
    assert saved.read_bytes() == export.content
    assert export.content.startswith(b"\xef\xbb\xbf") and b";" in export.content.splitlines()[0]
    assert len(export.content.splitlines()) == bar["total"] + 1


def test_a_revoked_key_has_its_own_state(
    page: Page, server: Server, store: Store, data: dict[str, Any], database_url: str
) -> None:
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    info, key = data["revoked"]
    store.revoke_api_key(info.id)
    search_cdrs(page, server, key, "busy")
    expect(page.locator("#state")).to_have_attribute("data-state", "revoked")
    expect(page.locator("#state")).to_contain_text("revogada")
    shot(page, "revoked", backend)


def test_an_empty_result_and_a_bad_parameter_are_told(
    page: Page, server: Server, data: dict[str, Any]
) -> None:
    search_cdrs(page, server, data["key"], "no-such-status")
    expect(page.locator("#state")).to_have_attribute("data-state", "empty")
    page.fill('fieldset[data-kind="cdrs"] input[name="call_status"]', "")
    page.fill('fieldset[data-kind="cdrs"] input[name="ori_billing_time"]', "abc")
    page.click("#search button[type=submit]")
    expect(page.locator("#state")).to_have_attribute("data-state", "error")
    expect(page.locator("#state")).to_contain_text("ori_billing_time")


def test_the_keyboard_alone_reaches_everything_and_narrows_to_a_bar(
    page: Page, server: Server, data: dict[str, Any]
) -> None:
    key = data["key"]
    search_cdrs(page, server, key, "abandoned")
    stats = api(server, key, CDRS.stats_path, call_status="abandoned", split="call_status",
                interval="day", **RANGE).json()  # fmt: skip
    expect(page.locator("#bar-pick option")).to_have_count(
        sum(1 for bar in stats["buckets"] if bar["total"])
    )

    # Tab from the top of the page reaches every control a search needs and its results'.
    page.locator("body").focus()
    reached: set[str] = set()
    for _ in range(200):  # past the 100 rows' buttons to "Mais itens"
        page.keyboard.press("Tab")
        reached.add(page.evaluate(
            "() => { const e = document.activeElement;"
            " return e.id || e.getAttribute('aria-label') || e.textContent.trim(); }"
        ))  # fmt: skip
    for control in ("key", "kind", "start_at", "end_at", "tz", "interval", "split", "bar-pick",
                    "csv", "ndjson", "curl", "Ver o documento inteiro", "more"):  # fmt: skip
        assert control in reached, (control, sorted(reached))

    # The bar list does what a click on the chart does: pick the second day, then Aproximar.
    page.locator("#bar-pick").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    bar = [bar for bar in stats["buckets"] if bar["total"]][1]
    expect(page.locator("#start_at")).to_have_value(bar["start"][:16])
    expect(page.locator("#end_at")).to_have_value(bar["start"][:10] + "T23:59")
    expect(page.locator("#total")).to_have_attribute("data-total", str(bar["total"]))

    # A row opens and closes from the keyboard.
    toggle = page.locator("tr.item button").first
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("tr.detail").first).to_be_visible()


def test_a_phone_width_scrolls_only_the_table(
    browser: Browser, server: Server, data: dict[str, Any], database_url: str
) -> None:
    backend = "postgres" if database_url.startswith("postgresql") else "sqlite"
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        search_cdrs(page, server, data["key"], "answered")
        expect(page.locator("tr.item")).not_to_have_count(0)
        # The page itself never scrolls sideways: the wide table scrolls in its own box.
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth,"
            " document.querySelector('#chart canvas').getBoundingClientRect().right,"
            " document.querySelector('.table-wrap').scrollWidth,"
            " document.querySelector('.table-wrap').clientWidth]"
        )
        page_width, viewport, chart_right, table_width, table_box = widths
        assert page_width <= viewport and chart_right <= viewport, widths
        assert table_width > table_box, widths  # the columns are there, scrolled to
        shot(page, "phone", backend)
    finally:
        context.close()


def test_a_bar_click_on_cards_narrows_with_the_dialer_token(
    page: Page, server: Server, data: dict[str, Any]
) -> None:
    key, token = data["key"], data["token"]
    search(page, server, key, "cards", token=token)
    everything = httpx.get(
        server.url + CARDS.stats_path,
        params={**RANGE, "interval": "day", "split": "status"},
        headers={"x-api-key": key, "x-dialer-token": token},
    ).json()
    expect(page.locator("#total")).to_have_attribute(
        "data-total", str(sum(bar["total"] for bar in everything["buckets"]))
    )
    index = max(range(len(everything["buckets"])), key=lambda i: everything["buckets"][i]["total"])
    click_bar(page, index)
    bar = everything["buckets"][index]
    expect(page.locator("#start_at")).to_have_value(bar["start"][:16])
    expect(page.locator("#total")).to_have_attribute("data-total", str(bar["total"]))
    # narrowed to a day, by hour: its bars add up to the day's
    narrowed = page.evaluate("() => window.atendeConsole.stats")
    assert narrowed["interval"] == "hour"
    assert sum(b["total"] for b in narrowed["buckets"]) == bar["total"]
