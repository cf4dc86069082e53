"""OpenAPI descriptions of the search endpoints, generated from the kinds' filter specs and
the export encoders (so the documented NDJSON and CSV examples are what an export sends)."""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson

from atende_logs.export.encoders import encoder_for
from atende_logs.kinds import Kind
from atende_logs.models import Output
from atende_logs.query.output import OUTPUT_PARAMETERS
from atende_logs.query.parse import COMMON_PARAMETERS, MAX_SIZE, TOKEN_PARAMETER

_COMMON_SEMANTICS = {
    "start_at": "Inclusive lower bound on the item's time. Epoch milliseconds, an ISO-8601 "
    "date, or a datetime with or without offset (offset-less values and dates are read in "
    "`tz`).",
    "end_at": "Inclusive upper bound on the item's time, in the same forms as `start_at`. "
    "A value covers its own precision: a date the whole day, a datetime without "
    "fraction the whole second.",
    "after": "The `after` of the previous page: a number (items strictly after that epoch "
    "millisecond) or an opaque string token. Pass it back unchanged. Or, to resume after "
    "the last item received (an export that dropped): `id:` and that item's id field "
    "(attendant logs `id`, CDRs `callid`, cards `id`), or for a card without an `id`, "
    "`card:<number>@<timestamp>` with the card's own fields. An item that is not yours "
    "gets 400.",
    "size": f"Page size, 1 to {MAX_SIZE}; default 100. Validated but ignored by an export, "
    "which holds the whole result.",
    "tz": "IANA zone name (e.g. America/Manaus) for dates and offset-less datetimes; "
    "default America/Sao_Paulo.",
}
_OUTPUT_SEMANTICS = {
    "format": "`json` (default): one page, as below. `ndjson` or `csv`: the whole filtered "
    "result in one streamed response, in the same order; it wins over the Accept header "
    "(`application/x-ndjson`, `text/csv`). See docs/export.md.",
    "delimiter": "CSV only: `,` (default), `;` or `tab`.",
    "bom": "CSV only: `true` starts the file with a UTF-8 byte order mark, for Excel.",
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
        _parameter(name, description, _OUTPUT_SEMANTICS[name])
        for name, description in OUTPUT_PARAMETERS.items()
    ]
    parameters += [
        _parameter(spec.param, spec.description, spec.semantics, example=spec.example)
        for spec in kind.filters
    ]
    return {
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "Uma página de itens (JSON), ou o resultado inteiro (NDJSON, CSV), "
                "em ordem crescente de tempo e id.",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/SearchPage"},
                        "example": example_page(kind),
                    },
                    **_export_contents(kind),
                },
                "headers": {
                    "Content-Disposition": {
                        "description": 'Exports only: `attachment; filename="<kind>.<format>"`.',
                        "schema": {"type": "string"},
                    }
                },
            }
        },
    }


def _export_contents(kind: Kind) -> dict[str, Any]:
    """The export media types, each with the spec's example item as that export holds it."""
    items = [orjson.dumps(item) for item in example_page(kind)["items"]]
    contents = {}
    for output, description in [
        (Output("ndjson"), "O resultado inteiro, um item JSON por linha (`format=ndjson`)."),
        (Output("csv"), "O resultado inteiro em CSV, com cabeçalho (`format=csv`)."),
    ]:
        encoder = encoder_for(kind.name, output)
        contents[encoder.media_type.split(";")[0]] = {
            "schema": {"type": "string", "description": description},
            "example": (encoder.head() + encoder.encode(items)).decode(),
        }
    return contents
