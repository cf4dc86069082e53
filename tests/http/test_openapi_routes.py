"""No route is served undocumented: the app's routes and the OpenAPI paths are the same set,
and every documented operation says what it does."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from atende_logs.config import Settings
from atende_logs.http import create_app

_AUTOMATIC = {"HEAD"}  # Starlette answers HEAD on a plain GET route by itself


def _served(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route, except the pages that serve the document itself.

    FastAPI keeps an included router as one entry of ``app.routes``; ``iter_route_contexts``
    walks into it, giving each route's full path.
    """
    documentation = {
        app.openapi_url,
        app.docs_url,
        app.redoc_url,
        app.swagger_ui_oauth2_redirect_url,
    }
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
