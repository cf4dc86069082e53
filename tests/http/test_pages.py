"""``/docs`` and ``/redoc`` work offline: every file they load is the app's own (issue 20)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from atende_logs.config import Settings
from atende_logs.http import create_app

URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


class _Links(HTMLParser):
    """Every ``src`` and ``href`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Settings(database_url="sqlite:///:memory:")))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_page_names_no_other_host_and_its_files_are_served(
    client: TestClient, page: str
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # No URL with a host anywhere in the page: not in a tag, not in its scripts.
    assert URL.findall(response.text) == []
    found = links(response.text)
    assert len(found) >= 2  # the favicon and the script, at least
    for link in found:
        assert link.startswith("/static/"), link
        assert client.get(link).status_code == 200, link
    assert "/openapi.json" in response.text


def test_swagger_ui_sends_the_document_to_no_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_behind_a_proxy_prefix_the_files_are_under_it() -> None:
    app = create_app(Settings(database_url="sqlite:///:memory:"))
    found = links(TestClient(app, root_path="/logs").get("/docs").text)
    assert found and all(link.startswith("/logs/static/") for link in found)
