"""A route that skips FastAPI's per-request dependency solving, and refuses what it would skip.

Solving a route's dependencies is a good part of a small page's server time
(docs/benchmarks-history.md, "The request's fixed cost"), so the search routes call their
endpoint with the request alone. Anything FastAPI would have injected (a dependency, a parameter, a
body) would then silently never run: a ``LeanRoute`` refuses it when it is created, and
``tests/http/test_openapi_routes.py`` checks it again as the app serves it, router-level
dependencies included. What it authenticates with is its ``auth``, which its handler calls
and the OpenAPI document declares (``http.auth``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from atende_logs.http.auth import Auth

LeanEndpoint = Callable[[Request], Awaitable[Response]]


def skipped(dependant: Dependant) -> list[str]:
    """What FastAPI would inject into a route with ``dependant``, by name; a lean route's
    must be empty (the request itself is passed, not injected)."""
    injected = [
        *dependant.path_params,
        *dependant.query_params,
        *dependant.header_params,
        *dependant.cookie_params,
        *dependant.body_params,
    ]
    names = [field.name for field in injected]
    names += [getattr(sub.call, "__name__", repr(sub.call)) for sub in dependant.dependencies]
    return names


class LeanRoute(APIRoute):
    """A route whose endpoint takes the request alone and is called as it is.

    ``auth`` is the credential it requires: its endpoint calls ``auth`` itself (on the worker
    thread of its other database work) and the OpenAPI document declares it. Its 200s are
    compressed for clients that accept it (``http.compression``).
    """

    compressible = True

    def __init__(self, path: str, endpoint: LeanEndpoint, *, auth: Auth[Any], **options: Any):
        super().__init__(path, endpoint, **options)
        self.auth = auth
        refused = skipped(self.dependant)
        if refused:
            raise TypeError(
                f"{path}: a lean route calls its endpoint with the request alone, so "
                f"{', '.join(refused)} would never be injected; read it from the request"
            )

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint
