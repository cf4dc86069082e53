"""OpenAPI descriptions of the search endpoints, generated from the kinds' filter specs."""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson

from atende_logs.kinds import Kind
from atende_logs.query.parse import COMMON_PARAMETERS, MAX_SIZE, TOKEN_PARAMETER

_COMMON_SEMANTICS = {
    "start_at": "Inclusive lower bound on the item's time. Epoch milliseconds, an ISO-8601 "
    "date, or a datetime with or without offset (offset-less values and dates are read in "
    "`tz`).",
    "end_at": "Inclusive upper bound on the item's time, in the same forms as `start_at`. "
    "A value covers its own precision: a date the whole day, a datetime without "
    "fraction the whole second.",
    "after": "The `after` of the previous page: a number (items strictly after that epoch "
    "millisecond) or an opaque string token. Pass it back unchanged.",
    "size": f"Page size, 1 to {MAX_SIZE}; default 100.",
    "tz": "IANA zone name (e.g. America/Manaus) for dates and offset-less datetimes; "
    "default America/Sao_Paulo.",
}
_EXAMPLE_FILES = {
    "attendant-logs": "example-attendant-logs.json",
    "cdrs": "example-cdrs.json",
    "cards": "example-dialer-queue-cards.json",
}


def _parameter(
    name: str,
    description: str,
    semantics: str,
    *,
    required: bool = False,
    example: str | None = None,
) -> dict[str, Any]:
    parameter: dict[str, Any] = {
        "name": name,
        "in": "query",
        "required": required,
        "description": f"{description}. {semantics}",
        "schema": {"type": "string"},
    }
    if example is not None:
        parameter["example"] = example
    return parameter


def example_page(kind: Kind) -> dict[str, Any]:
    """The spec's example response for ``kind``."""
    text = resources.files("atende_logs.http").joinpath("examples", _EXAMPLE_FILES[kind.name])
    example: dict[str, Any] = orjson.loads(text.read_bytes())
    return example


def search_operation(kind: Kind) -> dict[str, Any]:
    """``openapi_extra`` for a search route: its parameters and example response."""
    parameters = []
    if kind.has_dialer:
        parameters.append(
            _parameter(
                TOKEN_PARAMETER,
                "Token do discador (Obrigatorio)",
                "A token that is not one of your dialers' gets 404.",
                required=True,
            )
        )
    parameters += [
        _parameter(name, description, _COMMON_SEMANTICS[name])
        for name, description in COMMON_PARAMETERS.items()
    ]
    parameters += [
        _parameter(spec.param, spec.description, spec.semantics, example=spec.example)
        for spec in kind.filters
    ]
    return {
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "Uma página de itens, em ordem crescente de tempo e id.",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/SearchPage"},
                        "example": example_page(kind),
                    }
                },
            }
        },
    }
