"""One JSON error shape for every failure, and the map from our errors to HTTP statuses.

Every error body is ``{"error": {"status", "code", "message", "parameter"?, "request_id"}}``:
``code`` is stable English for programs, ``message`` Portuguese for people, ``parameter``
names the query parameter at fault when there is one, ``request_id`` is the request's id
(also in its ``X-Request-Id`` header and access log line; see ``http.request_id``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from atende_logs.errors import (
    AtendeError,
    AuthenticationError,
    EmptyBodyError,
    ForbiddenError,
    HistoryGoneError,
    NotFoundError,
    ParameterError,
    PayloadTooLargeError,
    QueryTimeoutError,
    StoreUnavailableError,
    UnsupportedMediaTypeError,
)
from atende_logs.http.request_id import current_request_id
from atende_logs.http.responses import JSONResponse

logger = logging.getLogger("atende_logs.http")

_STATUS: list[tuple[type[AtendeError], int]] = [
    (ParameterError, 400),
    (EmptyBodyError, 400),
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (HistoryGoneError, 410),
    (PayloadTooLargeError, 413),
    (UnsupportedMediaTypeError, 415),
    (StoreUnavailableError, 503),
    (QueryTimeoutError, 503),
]
RETRY_AFTER_SECONDS = "5"
_HTTP_ERRORS = {
    404: ("not_found", "rota não encontrada"),
    405: ("method_not_allowed", "método não permitido"),
}


def error_body(
    status: int,
    code: str,
    message: str,
    parameter: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The one JSON error shape; ``request_id`` defaults to the request being served's."""
    error: dict[str, Any] = {"status": status, "code": code, "message": message}
    if parameter is not None:
        error["parameter"] = parameter
    request_id = request_id or current_request_id()
    if request_id is not None:
        error["request_id"] = request_id
    return {"error": error}


def error_response(
    status: int, code: str, message: str, parameter: str | None = None
) -> JSONResponse:
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None
    return JSONResponse(error_body(status, code, message, parameter), status, headers=headers)


def status_of(error: AtendeError) -> int:
    return next((status for cls, status in _STATUS if isinstance(error, cls)), 500)


async def _atende_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AtendeError)
    status = status_of(exc)
    if status == 500:
        logger.error(
            "storage error on %s (request %s): %s",
            request.url.path,
            current_request_id(),
            exc.message,
        )
        return error_response(500, "internal_error", "erro interno")
    return error_response(status, exc.code, exc.message, getattr(exc, "parameter", None))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code, message = _HTTP_ERRORS.get(exc.status_code, ("http_error", str(exc.detail)))
    response = error_response(exc.status_code, code, message)
    response.headers.update(exc.headers or {})  # e.g. the Allow header of a 405
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ())]
    name = location[-1] if location else None
    return error_response(400, "invalid_parameter", f"{name} inválido", name)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Never let a stack trace, SQL or an internal name reach a client; it goes to the log.
    logger.exception("unexpected error on %s (request %s)", request.url.path, current_request_id())
    return error_response(500, "internal_error", "erro interno")


def install_error_handlers(app: FastAPI) -> None:
    """Route every failure through ``error_body``."""
    app.add_exception_handler(AtendeError, _atende_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
