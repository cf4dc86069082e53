"""No route is served undocumented: the app's routes and the OpenAPI paths are the same set,
and every documented operation says what it does. What a route declares runs: a lean route
takes no dependency it would skip, and every declared credential is checked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import SecretStr

from atende_logs import credentials
from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.auth import API_KEY
from atende_logs.http.lean_route import LeanRoute, skipped
from atende_logs.http.pages import PAGES, STATIC
from atende_logs.kinds import KINDS
from atende_logs.storage import Store

_AUTOMATIC = {"HEAD"}  # Starlette answers HEAD on a plain GET route by itself


def _served(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route, except the pages that serve the document itself.

    FastAPI keeps an included router as one entry of ``app.routes``; ``iter_route_contexts``
    walks into it, giving each route's full path.
    """
    documentation = {app.openapi_url, *PAGES, STATIC}
    served = set()
    for route in iter_route_contexts(app.routes):
        path = route.path or repr(route.original_route)
        if path in documentation:
            continue
        methods = route.methods or {"ANY"}  # a mount answers every method
        served |= {(method.lower(), path) for method in set(methods) - _AUTOMATIC}
    return served


def _documented(app: FastAPI) -> set[tuple[str, str]]:
    return {(method, path) for path, item in app.openapi()["paths"].items() for method in item}


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    ]


def test_every_route_served_is_documented_and_nothing_else() -> None:
    app = create_app(Settings())

    assert _served(app) == _documented(app)


def test_the_probes_and_metrics_are_among_them() -> None:
    served = _served(create_app(Settings()))

    assert {("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics")} <= served


def test_a_route_hidden_from_the_document_is_caught() -> None:
    app = create_app(Settings())

    async def hidden() -> None:
        return None

    app.add_api_route("/hidden", hidden, include_in_schema=False)

    assert _served(app) - _documented(app) == {("get", "/hidden")}


def test_every_operation_has_a_summary_and_a_description() -> None:
    for method, path, operation in _operations(create_app(Settings())):
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)


# --- One route idiom: what a route declares runs (issue 15, point 3) ------------------------


def _search_app(router: APIRouter, **include: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(router, **include)
    return app


async def _lean_page(request: Request) -> Response:
    return Response(b"{}")


async def _dependency() -> None:
    return None


def test_a_lean_route_refuses_what_it_would_never_inject() -> None:
    async def with_parameter(request: Request, size: int) -> Response:
        return Response(b"{}")

    with pytest.raises(TypeError, match="_dependency would never be injected"):
        LeanRoute("/x", _lean_page, auth=API_KEY, dependencies=[Depends(_dependency)])
    with pytest.raises(TypeError, match="size would never be injected"):
        LeanRoute("/x", with_parameter, auth=API_KEY)


def _lean_routes_skipping(app: FastAPI) -> dict[str | None, list[str]]:
    """Each lean route the app serves, with what FastAPI would inject into it, router-level
    dependencies included: what the route would silently skip."""
    return {
        route.path: skipped(route.dependant)
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, LeanRoute)
    }


def test_no_lean_route_is_served_with_a_dependency_it_would_skip() -> None:
    lean = _lean_routes_skipping(create_app(Settings()))

    served = [
        path for kind in KINDS.values() for path in (kind.path, kind.changes_path, kind.stats_path)
    ]
    assert sorted(lean) == sorted(served)  # the searches, the change feeds, the stats
    assert all(not refused for refused in lean.values()), lean


def test_a_dependency_added_where_the_router_is_included_is_caught() -> None:
    router = APIRouter()
    router.routes.append(LeanRoute("/x", _lean_page, auth=API_KEY))

    plain = _lean_routes_skipping(_search_app(router))
    guarded = _lean_routes_skipping(_search_app(router, dependencies=[Depends(_dependency)]))

    assert plain == {"/x": []}
    assert guarded == {"/x": ["_dependency"]}


def _secured(document: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [
        (method, path, [scheme for requirement in security for scheme in requirement])
        for method, path, operation in _operations_of(document)
        if (security := operation.get("security"))
    ]


def _operations_of(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


_METRICS_TOKEN = "a-scrape-token"
_WRONG = {
    "ApiKey": {"x-api-key": credentials.generate(credentials.CUSTOMER_KEY)},
    "IngestKey": {"x-ingest-key": credentials.generate(credentials.INGEST_KEY)},
    "MetricsToken": {"authorization": "Bearer not-the-token"},
}


@pytest.fixture
def guarded_client(app_settings: Settings, store: Store) -> Iterator[TestClient]:
    """The app with every credential in force (the metrics token set)."""
    settings = Settings(
        database_url=app_settings.database_url, metrics_token=SecretStr(_METRICS_TOKEN)
    )
    with TestClient(create_app(settings, store=store)) as client:
        yield client


def test_every_declared_credential_is_checked(guarded_client: TestClient) -> None:
    """An operation that declares a scheme refuses a request without its credential, or
    with a wrong one: the declaration runs (``http.auth``)."""
    document = guarded_client.app.openapi()  # type: ignore[attr-defined]
    secured = _secured(document)
    assert {scheme for _, _, schemes in secured for scheme in schemes} == set(_WRONG)
    for method, path, schemes in secured:
        url = path.format(customer_id=1, dialer_id=1)
        without = guarded_client.request(method, url)
        wrong = guarded_client.request(method, url, headers=_WRONG[schemes[0]])
        assert (without.status_code, wrong.status_code) == (401, 401), (method, path)


def test_an_operation_declaring_no_credential_asks_for_none(guarded_client: TestClient) -> None:
    document = guarded_client.app.openapi()  # type: ignore[attr-defined]
    open_operations = {
        (method, path)
        for method, path, operation in _operations_of(document)
        if "security" not in operation
    }

    assert open_operations == {("get", "/healthz"), ("get", "/readyz")}
    for method, path in open_operations:
        assert guarded_client.request(method, path).status_code != 401
