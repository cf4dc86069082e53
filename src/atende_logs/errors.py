"""Every error the service raises on purpose, under one base.

    AtendeError
    ├── ParameterError            a query parameter is unknown, missing or malformed (400)
    ├── EmptyBodyError            an ingest request without a body (400)
    ├── AuthenticationError       missing, unknown or revoked key (401)
    ├── ForbiddenError            a live key asking for what is outside its scope (403)
    │   └── ScrapesRefusedError   /metrics without a token, reachable from outside (403)
    ├── NotFoundError             something named by the request does not exist for its caller (404)
    ├── HistoryGoneError          a change feed position older than the history kept (410)
    ├── PayloadTooLargeError      an ingest body or batch over its limit (413)
    ├── UnsupportedMediaTypeError an ingest body in a format we do not read (415)
    └── StorageError              the database failed us
        ├── StoreUnavailableError the database cannot be reached (503)
        └── QueryTimeoutError     a query ran past the statement timeout (503)

The HTTP layer maps each class to its status and JSON body in one place
(``atende_logs.http.errors``); the CLI prints the message.
"""

from __future__ import annotations


class AtendeError(Exception):
    """Base of every error the service raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ParameterError(AtendeError):
    """A request parameter is unknown, missing or malformed; names the parameter."""

    code = "invalid_parameter"

    def __init__(self, parameter: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        if code is not None:
            self.code = code


class EmptyBodyError(AtendeError):
    """An ingest request with no body at all: a producer's bug, never an empty batch."""

    code = "empty_body"


class AuthenticationError(AtendeError):
    code = "unauthorized"


class ForbiddenError(AtendeError):
    code = "forbidden"


class ScrapesRefusedError(ForbiddenError):
    code = "metrics_token_unset"


class NotFoundError(AtendeError):
    code = "not_found"


class HistoryGoneError(AtendeError):
    """A change feed ``since`` from before the oldest change kept: start again without it."""

    code = "history_expired"

    def __init__(self, message: str, parameter: str = "since") -> None:
        super().__init__(message)
        self.parameter = parameter


class PayloadTooLargeError(AtendeError):
    code = "payload_too_large"


class UnsupportedMediaTypeError(AtendeError):
    code = "unsupported_media_type"


class StorageError(AtendeError):
    code = "storage_error"


class StoreUnavailableError(StorageError):
    code = "database_unavailable"


class QueryTimeoutError(StorageError):
    code = "query_timeout"
