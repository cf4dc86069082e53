"""The OpenAPI operation of a stats route (issue 20): its parameters and its answer."""

from __future__ import annotations

from typing import Any

from atende_logs.http.openapi import _COMMON_SEMANTICS, _parameter, _token_parameters
from atende_logs.kinds import Kind
from atende_logs.query import COMMON_PARAMETERS, values
from atende_logs.query.stats import MAX_BARS, NO_VALUE, STATS_PARAMETERS

_REQUIRED = " Required: the bars cover the range from `start_at` to `end_at`."
_STATS_SEMANTICS = {
    "interval": "`hour` or `day` (default; in any case): the length of each bar, laid on "
    "the calendar of `tz` (a day the clocks change lasts 23 or 25 hours). A range holding "
    "more than "
    f"{MAX_BARS} bars gets 400 `invalid_parameter` naming `interval`.",
    "split": "A field whose values divide each bar, one count per value in `counts`; "
    f"records without a value are counted under `{NO_VALUE!s}` (the empty key). Without "
    "`split`, a bar has its `total` only.",
}
_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["interval", "split", "tz", "total", "buckets"],
    "properties": {
        "interval": {"type": "string", "enum": ["hour", "day"]},
        "split": {"type": ["string", "null"]},
        "tz": {"type": "string"},
        "total": {
            "type": "integer",
            "description": "The listing's `total` for the same "
            "range and filters: the sum of the bars.",
        },
        "buckets": {
            "type": "array",
            "description": "Every bar of the range in time order, empty ones included.",
            "items": {
                "type": "object",
                "required": ["start", "total"],
                "properties": {
                    "start": {
                        "type": "string",
                        "format": "date-time",
                        "description": "The bar's start, in `tz`.",
                    },
                    "total": {"type": "integer"},
                    "counts": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                        "description": "With `split`: records per value.",
                    },
                },
            },
        },
    },
}


def stats_operation(kind: Kind) -> dict[str, Any]:
    """``openapi_extra`` for a stats route: its parameters and example response."""
    parameters = _token_parameters() if kind.scope.by_dialer else []
    common: dict[str, dict[str, Any]] = {
        "start_at": values.REQUIRED_TIME,
        "end_at": values.REQUIRED_TIME,
        "tz": {"anyOf": [values.BLANK, {"$ref": "#/components/schemas/TimeZone"}]},
    }
    for name, schema in common.items():
        parameter = _parameter(name, COMMON_PARAMETERS[name], _COMMON_SEMANTICS[name], schema)
        if name != "tz":
            parameter["required"] = True
            parameter["description"] += _REQUIRED
        parameters.append(parameter)
    schemas = {
        "interval": values.INTERVAL,
        "split": values.choice(kind.splits),
    }
    parameters += [
        _parameter(name, description, _STATS_SEMANTICS[name], schemas[name])
        for name, description in STATS_PARAMETERS.items()
    ]
    parameters += [
        _parameter(
            spec.param,
            spec.description,
            spec.semantics,
            values.filter_schema(spec.key),
            example=spec.example,
        )
        for spec in kind.filters
    ]
    split = kind.splits[0] if kind.splits else None
    example = {
        "interval": "day",
        "split": split,
        "tz": "America/Sao_Paulo",
        "total": 5,
        "buckets": [
            {"start": "2020-02-06T00:00:00-03:00", "total": 3, "counts": {"a": 2, "b": 1}},
            {"start": "2020-02-07T00:00:00-03:00", "total": 2, "counts": {"a": 2}},
        ],
    }
    return {
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "The listing's records counted per bar of time.",
                "content": {"application/json": {"schema": _BODY_SCHEMA, "example": example}},
            }
        },
    }
