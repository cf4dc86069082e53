"""Every error the client raises on purpose, under one base.

    ClientError
    ├── ApiError              the server refused the request (a 4xx other than 429, or a 3xx)
    ├── RetriesExhaustedError a request kept failing for a passing reason past the retry policy
    ├── ProtocolError         an answer that is not a page of the contract
    └── PullError             a pull into a file cannot start, resume or finish
        ├── StateMismatchError  the state beside the output belongs to a different pull
        └── MissingExtraError   the output format needs an optional package (pyarrow)

Passing reasons are connection errors, timeouts, 429 and 5xx: those are retried (see
``RetryPolicy``); everything else stops at once.
"""

from __future__ import annotations


class ClientError(Exception):
    """Base of every error the client raises on purpose; ``message`` is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiError(ClientError):
    """The server answered with an error that retrying cannot fix.

    ``code``, ``message`` and ``parameter`` come from the contract's error body
    (``{"error": {"status", "code", "message", "parameter"?}}``) when the server sent one.
    """

    def __init__(
        self, status: int, message: str, code: str | None = None, parameter: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.parameter = parameter

    def __str__(self) -> str:
        where = f", parameter {self.parameter}" if self.parameter else ""
        code = f" {self.code}" if self.code else ""
        return f"the server refused the request ({self.status}{code}{where}): {self.message}"


class RetriesExhaustedError(ClientError):
    """A request failed for a passing reason until the retry policy gave up."""


class ProtocolError(ClientError):
    """The server answered 2xx with something that is not a page of the contract."""


class PullError(ClientError):
    """A pull into a file cannot start, resume or finish."""


class StateMismatchError(PullError):
    """The state file beside the output was left by a pull with other arguments."""


class MissingExtraError(PullError):
    """The output format needs an optional dependency that is not installed."""
