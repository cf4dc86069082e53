"""The HTML pages: ``/docs`` (Swagger UI) and ``/redoc`` over the OpenAPI document, and the
files they load, served by the app itself (``static/vendor``, pinned, with their licences).

FastAPI's own pages load Swagger UI, ReDoc, Google Fonts and a favicon from public CDNs, so
behind a firewall or offline they are blank (issue 20). These are the same pages, with every
asset from here: a test holds their HTML to no other host.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

STATIC = "/static"
VENDOR = f"{STATIC}/vendor"
SWAGGER_JS = f"{VENDOR}/swagger-ui-5.36.0/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR}/swagger-ui-5.36.0/swagger-ui.css"
REDOC_JS = f"{VENDOR}/redoc-2.5.4/redoc.standalone.js"
FAVICON = f"{STATIC}/favicon.svg"
PAGES = ("/docs", "/redoc", "/console", "/console/download-worker.js")
"""The documentation pages: not operations of the API, so not in its OpenAPI document."""


def static_files() -> Mount:
    """The package's ``http/static`` folder at ``/static``."""
    files = StaticFiles(packages=[("atende_logs.http", "static")])
    return Mount(STATIC, app=files, name="static")


def _prefix(request: Request) -> str:
    """Where the app is mounted behind a proxy (``--root-path``), as FastAPI's pages do."""
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


def docs_router(title: str, openapi_url: str) -> APIRouter:
    """``/docs`` and ``/redoc`` over the document at ``openapi_url``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _prefix(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=root + SWAGGER_JS,
            swagger_css_url=root + SWAGGER_CSS,
            swagger_favicon_url=root + FAVICON,
            # Swagger UI's default sends the document's URL to a public validator for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        root = _prefix(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=root + REDOC_JS,
            redoc_favicon_url=root + FAVICON,
            with_google_fonts=False,
        )

    return router
