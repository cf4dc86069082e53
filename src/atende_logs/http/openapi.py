"""The OpenAPI document, built in one place (``openapi_document``).

FastAPI writes what the routes declare: their parameters and answers, and the
``openapi_extra`` of the search and ingest routes, made here from the kinds' filter specs
and the export encoders (so the documented NDJSON and CSV examples are what an export
sends). ``openapi_document`` adds what no route declares to FastAPI: each route's security
requirement, from its ``Auth`` (``http.auth``); the rate limits' fields and 429s; and the
schemas the handlers build by hand (``SearchPage``), which Schemathesis holds them to
(tests/http/test_schemathesis.py).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from importlib import resources
from typing import Annotated, Any, Literal

import orjson
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

from atende_logs import __version__
from atende_logs.config import Settings
from atende_logs.export.encoders import encoder_for
from atende_logs.formats import Format, Output
from atende_logs.http.auth import Auth
from atende_logs.http.errors import error_body
from atende_logs.http.lean_route import LeanRoute
from atende_logs.http.rate_limit_middleware import RouteLimits, limit_fields, refusal_answer
from atende_logs.http.request_id import EXAMPLE_REQUEST_ID, REQUEST_ID_HEADER
from atende_logs.kinds import Kind
from atende_logs.models import FeedPosition
from atende_logs.query import values
from atende_logs.query.changes import CHANGE_PARAMETERS, MAX_WAIT_S, encode_cursor
from atende_logs.query.output import OUTPUT_PARAMETERS
from atende_logs.query.parse import COMMON_PARAMETERS, MAX_SIZE, TOKEN_HEADER, TOKEN_PARAMETER

TITLE = "API de Clientes — Atende Simples"
DESCRIPTION = """API de busca de logs para clientes da Atende Simples.

Authenticate with your key in the `x-api-key` header. Pages come in ascending time order
(ties by id); pass each page's `after` back to get the next one, until a page comes back
empty (`"after": null`). See the README for the full pagination contract.

Each key has a request quota and a cap on requests in flight at once; every answer says what
is left in its `RateLimit-Policy` and `RateLimit` fields, and a request over either gets 429
with `Retry-After` (the seconds after which the next one goes through).
"""


def openapi_document(routes: Sequence[BaseRoute], settings: Settings) -> dict[str, Any]:
    """The document of an app serving ``routes`` with ``settings``."""
    document = copy.deepcopy(  # FastAPI's dicts may be the routes' own: never edit those
        get_openapi(title=TITLE, version=__version__, description=DESCRIPTION, routes=routes)
    )
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(
        SearchPage=SearchPage.model_json_schema(ref_template="#/components/schemas/{model}"),
        **ChangesPage.model_json_schema(ref_template="#/components/schemas/{model}").pop("$defs"),
        ChangesPage={
            key: value
            for key, value in ChangesPage.model_json_schema(
                ref_template="#/components/schemas/{model}"
            ).items()
            if key != "$defs"
        },
        TimeZone={
            "type": "string",
            "description": "An IANA time zone name this server knows.",
            "enum": values.time_zones(),
        },
    )
    limits = RouteLimits.from_settings(settings) if settings.rate_limit_enabled else None
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        path, methods = route.path_format, route.methods
        assert path is not None and methods is not None  # an APIRoute has both
        required = [auth for auth in auths_of(route) if auth.required(settings)]
        route_limits = limits.of(path) if limits is not None else None
        for method in methods:
            operation = document["paths"][path][method.lower()]
            if required:
                operation["security"] = [{auth.scheme: [] for auth in required}]
                schemes = components.setdefault("securitySchemes", {})
                schemes |= {auth.scheme: auth.security_scheme() for auth in required}
            if route_limits is not None:
                for answer in operation["responses"].values():
                    answer.setdefault("headers", {}).update(limit_fields(route_limits))
                operation["responses"]["429"] = refusal_answer(route_limits, settings)
    return document


def auths_of(route: RouteContext) -> list[Auth[Any]]:
    """The credentials ``route`` requires: a lean route's ``auth``, or the ``Auth`` among
    its dependencies, however deep (router-level ones included)."""
    if isinstance(route.original_route, LeanRoute):
        return [route.original_route.auth]
    found: list[Auth[Any]] = []
    pending: list[Dependant] = [route.dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, Auth) and dependant.call not in found:
            found.append(dependant.call)
        pending += dependant.dependencies
    return found


class SearchPage(BaseModel):
    """One page of a listing."""

    total: int = Field(description="Items matching the filters, ignoring `after`.")
    after: int | str | None = Field(
        description="Where the next page starts: epoch milliseconds of the last item, or an "
        "opaque token when other items share that millisecond; null on an empty page."
    )
    items: list[dict[str, Any]] = Field(description="The documents, as ingested.")


class FeedChange(BaseModel):
    """One record's change: its latest state, or its removal."""

    op: Literal["upsert", "delete"] = Field(
        description="`upsert`: store `item` under `id`, replacing any copy. `delete`: drop "
        "`id` (it was removed, or no longer matches the filters); it may be one you never had."
    )
    id: str = Field(
        description="The record's id (attendant logs `id`, CDRs `callid`, cards "
        "`id` or the id derived at ingest)."
    )
    changed_at: str = Field(description="When the change committed, ISO 8601 UTC to the ms.")
    item: dict[str, Any] | None = Field(
        default=None, description="upsert only: the document exactly as the list returns it."
    )


class FeedExpiry(BaseModel):
    """A retention mark: every record of the kind older than `before` is gone, without a
    change of its own (docs/sync.md, "Retention")."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["expire"] = Field(
        description="`expire`: drop every record of your copy whose time (the field "
        "`start_at` and `end_at` bound) is before `before`, whether you had it from an upsert "
        "or not. Apply it in its place among the changes: a record upserted after it stays."
    )
    before: str = Field(
        description="Registros com horário anterior a este instante foram removidos pela "
        "retenção. Records whose time is before this instant were removed by retention; "
        "ISO 8601 UTC to the ms. A time without an offset in a document is the server's "
        "zone's (ATENDE_TIMEZONE, America/Sao_Paulo by default)."
    )
    changed_at: str = Field(description="When the mark was written, ISO 8601 UTC to the ms.")


Change = Annotated[FeedChange | FeedExpiry, Field(discriminator="op")]


class ChangesPage(BaseModel):
    """A page of a change feed."""

    changes: list[Change] = Field(
        description="In commit order; each record once; retention marks (`expire`) in their "
        "place among them."
    )
    cursor: str = Field(description="Opaque: pass it as `since` to continue after this page.")
    end_of_stream: bool = Field(
        description="No further change existed when this page was read: wait (`wait`) or "
        "come back later with `cursor`."
    )


_COMMON_SEMANTICS = {
    "start_at": "Inclusive lower bound on the item's time. Epoch milliseconds (0, or from "
    "946684800000, 2000-01-01, on), an ISO-8601 date (2020-01-27 or 20200127), or a "
    "datetime with or without offset (offset-less values and dates are read in `tz`). "
    "Past the millisecond, it rounds up. The schema admits the days from 1970-01-02 to "
    "9999-12-30; on the days either side, a value is taken when its instant falls from "
    "1970 to 9999, which depends on its zone.",
    "end_at": "Inclusive upper bound on the item's time, in the same forms as `start_at`. "
    "A value covers its own precision, measured on the instant: a date the whole day, a "
    "datetime without fraction the whole minute or second. Past the millisecond, it rounds "
    "down. A range holding no millisecond (`start_at` after `end_at`) gets 400 "
    "`invalid_range`.",
    "after": "The `after` of the previous page: a number (items strictly after that epoch "
    "millisecond) or an opaque string token. Pass it back unchanged. Or, to resume after "
    "the last item received (an export that dropped): `id:` and that item's id field "
    "(attendant logs `id`, CDRs `callid`, cards `id`), or for a card without an `id`, "
    "`card:<number>@<timestamp>` with the card's own fields. A token no page handed out, "
    "or an item that is not yours, gets 400.",
    "size": f"Page size, 1 to {MAX_SIZE}; default 100. Validated but ignored by an export, "
    "which holds the whole result.",
    "tz": "IANA zone name (e.g. America/Manaus) for dates and offset-less datetimes, as "
    "spelled in the zone database; default America/Sao_Paulo.",
}
_CSV_ONLY = (
    "CSV only: with another format (`format`, or else the Accept header) it gets 400 "
    "`invalid_parameter`, rather than being ignored."
)
_OUTPUT_SEMANTICS = {
    "format": "`json` (default): one page, as below. `ndjson` or `csv`: the whole filtered "
    "result in one streamed response, in the same order; it wins over the Accept header "
    "(`application/x-ndjson`, `text/csv`). In any case, blanks around it ignored. See "
    "docs/export.md.",
    "delimiter": f"{_CSV_ONLY} `,` (default), `;` or `tab` (in any case), or a tab character.",
    "bom": f"{_CSV_ONLY} `true` starts the file with a UTF-8 byte order mark, for Excel; "
    "`false` (default) does not. In any case.",
    "csv_formulas": f"{_CSV_ONLY} `escape` (default): a text cell starting with `=`, `+`, `-`, "
    "`@`, a tab or a carriage return gets a leading `'`, so a spreadsheet shows it instead "
    "of running it as a formula; a plain decimal number (`-48.3317167`) is left as it is. "
    "`raw`: every cell exactly as stored, for programs that read the CSV themselves. In "
    "any case. See docs/export.md.",
}
_BLANK = "An empty or blank value counts as not sent."


def _parameter(
    name: str,
    description: str,
    semantics: str,
    schema: dict[str, Any],
    *,
    example: str | None = None,
) -> dict[str, Any]:
    blank = "An empty value counts as not sent." if name == "delimiter" else _BLANK
    parameter: dict[str, Any] = {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"{description}. {semantics} {blank}",
        "schema": schema,
    }
    if example is not None:
        parameter["example"] = example
    return parameter


def example_page(kind: Kind) -> dict[str, Any]:
    """The spec's example response for ``kind``."""
    text = resources.files("atende_logs.http").joinpath("examples", kind.example_file)
    example: dict[str, Any] = orjson.loads(text.read_bytes())
    return example


def search_operation(kind: Kind) -> dict[str, Any]:
    """``openapi_extra`` for a search route: its parameters and example response."""
    parameters = _token_parameters() if kind.scope.by_dialer else []
    common = {
        "start_at": values.TIME,
        "end_at": values.TIME,
        "after": values.after(kind),
        "size": values.SIZE,
        "tz": {"anyOf": [values.BLANK, {"$ref": "#/components/schemas/TimeZone"}]},
    }
    parameters += [
        _parameter(name, description, _COMMON_SEMANTICS[name], common[name])
        for name, description in COMMON_PARAMETERS.items()
    ]
    parameters += [
        _parameter(name, description, _OUTPUT_SEMANTICS[name], values.OUTPUT[name])
        for name, description in OUTPUT_PARAMETERS.items()
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
    return {
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "Uma página de itens (JSON), ou o resultado inteiro (NDJSON, CSV), "
                "em ordem crescente de tempo e id.",
                "links": {
                    "NextPage": {
                        "operationRef": "#/paths/" + kind.path.replace("/", "~1") + "/get",
                        "parameters": {"after": "$response.body#/after"},
                        "description": "The next page (of a JSON page): the same request, "
                        "with this page's `after`.",
                    }
                },
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


_CHANGE_SEMANTICS = {
    "since": "Absent: from the start of the history kept (every record there is). The "
    "`cursor` of an earlier answer: the changes after it; pass it back unchanged. A date or "
    "datetime as `start_at` takes it, read in `tz`: the changes made at or after it. A "
    "cursor (or time) older than the history kept gets 410 `history_expired`: start again "
    "without `since`. A cursor no answer handed out gets 400.",
    "wait": f"Seconds, 0 to {MAX_WAIT_S} (default 0): when no change is left, hold the "
    "request until one commits (answered within a second of its commit) or the time runs "
    "out (an empty page, the same `cursor`).",
}


def changes_operation(kind: Kind) -> dict[str, Any]:
    """``openapi_extra`` for a change feed route: its parameters and example response."""
    parameters = _token_parameters() if kind.scope.by_dialer else []
    common: dict[str, dict[str, Any]] = {
        "start_at": values.TIME,
        "end_at": values.TIME,
        "size": values.SIZE,
        "tz": {"anyOf": [values.BLANK, {"$ref": "#/components/schemas/TimeZone"}]},
    }
    parameters += [
        _parameter(name, COMMON_PARAMETERS[name], _COMMON_SEMANTICS[name], schema)
        for name, schema in common.items()
    ]
    schemas = {"since": values.SINCE, "wait": values.WAIT}
    parameters += [
        _parameter(name, description, _CHANGE_SEMANTICS[name], schemas[name])
        for name, description in CHANGE_PARAMETERS.items()
    ]
    parameters += [
        _parameter(
            spec.param,
            spec.description,
            spec.semantics + " A changed record that does not match is sent as a delete.",
            values.filter_schema(spec.key),
            example=spec.example,
        )
        for spec in kind.filters
    ]
    item = example_page(kind)["items"][0]
    changes: list[dict[str, Any]] = [
        {"op": "upsert", "id": "1", "changed_at": "2020-02-06T20:28:34.072Z", "item": item},
        {"op": "delete", "id": "2", "changed_at": "2020-02-06T20:28:35.001Z"},
        {
            "op": "expire",
            "before": "2019-08-09T03:00:00.000Z",
            "changed_at": "2020-02-06T20:28:36.250Z",
        },
    ]
    example = {
        "changes": changes,
        "cursor": encode_cursor(_example_positions(changes)[-1]),
        "end_of_stream": True,
    }
    return {
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "Changes after `since`, in commit order.",
                "links": {
                    "NextChanges": {
                        "operationRef": "#/paths/" + kind.changes_path.replace("/", "~1") + "/get",
                        "parameters": {"since": "$response.body#/cursor"},
                        "description": "The changes after these: the same request, with "
                        "this answer's `cursor` as `since`.",
                    }
                },
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ChangesPage"},
                        "example": example,
                    },
                    "text/event-stream": {
                        "schema": {"type": "string"},
                        "description": _STREAM,
                        "example": _stream_example(changes),
                    },
                },
            }
        },
    }


_STREAM = (
    "With `Accept: text/event-stream`: a live tail (Server-Sent Events) that stays open and "
    "sends each change as it commits, from `since` on, with the same filters (`size` is the "
    "page size of its reads; `wait` is ignored). Each change is one event: `id:` the cursor "
    "after it, `event: change`, `data:` the change object exactly as in the JSON answer. A "
    "comment `: keep-alive` goes out after 15 s without changes (ATENDE_STREAM_HEARTBEAT_S). "
    "To resume after a dropped connection, send the last event's id as the `Last-Event-ID` "
    "header: it takes the place of `since` (both, and different: 400). Every error (400, "
    "401, 404, 410 `history_expired`, 429) comes before the stream starts, as JSON. A stream "
    "holds one of its key's concurrent requests while open; it ends when the server shuts "
    "down or a read fails: reconnect with `Last-Event-ID`."
)


def _example_positions(changes: list[dict[str, Any]]) -> list[FeedPosition]:
    """Where each example change stands in the feed (a mark, no record's: past its seq)."""
    return [FeedPosition(41 + n, change.get("id")) for n, change in enumerate(changes, 1)]


def _stream_example(changes: list[dict[str, Any]]) -> str:
    events = [": open\n"]
    for change, position in zip(changes, _example_positions(changes), strict=True):
        cursor = encode_cursor(position)
        data = orjson.dumps(change).decode()
        events.append(f"id: {cursor}\nevent: change\ndata: {data}\n")
    events.append(": keep-alive\n")
    return "\n".join(events) + "\n"


def _token_parameters() -> list[dict[str, Any]]:
    """The dialer token of cards: the spec's ``token`` parameter, or a header that keeps it
    out of URLs and their logs. One of the two is required; OpenAPI cannot say "one of"."""
    rules = (
        "Required in one of the two: both may be sent if they are equal (different: 400 "
        "`conflicting_token`; neither: 400 `missing_parameter`). A token that is not one of "
        "your dialers' gets 404."
    )
    header = {
        "name": TOKEN_HEADER,
        "in": "header",
        "required": False,
        "description": "Token do discador, fora da URL. The dialer's token, instead of the "
        f"`{TOKEN_PARAMETER}` parameter: a URL is recorded by proxies and servers, a header "
        f"is not. {rules}",
        "schema": {"type": "string"},
    }
    query = _parameter(
        TOKEN_PARAMETER,
        "Token do discador (Obrigatorio)",
        f"The dialer's token, or send it in the `{TOKEN_HEADER}` header. {rules}",
        values.TEXT,
    )
    return [query, header]


def _export_contents(kind: Kind) -> dict[str, Any]:
    """The export media types, each with the spec's example item as that export holds it."""
    items = [orjson.dumps(item) for item in example_page(kind)["items"]]
    contents = {}
    for fmt, description in [
        (Format.NDJSON, "O resultado inteiro, um item JSON por linha (`format=ndjson`)."),
        (Format.CSV, "O resultado inteiro em CSV, com cabeçalho (`format=csv`)."),
    ]:
        encoder = encoder_for(kind, Output(fmt))
        contents[fmt.media_type] = {
            "schema": {"type": "string", "description": description},
            "example": (encoder.head() + encoder.encode(items)).decode(),
        }
    return contents


class ErrorDetail(BaseModel):
    """What went wrong (``http.errors.error_body``)."""

    status: int = Field(description="The answer's HTTP status.")
    code: str = Field(description="Stable English code for programs, e.g. `invalid_parameter`.")
    message: str = Field(description="What went wrong, in Portuguese, for people.")
    parameter: str | None = Field(None, description="The parameter at fault, when there is one.")
    request_id: str = Field(
        description="The request's id, as in its `X-Request-Id` header and access log line."
    )


class ErrorBody(BaseModel):
    """The one JSON shape of every error answer."""

    error: ErrorDetail


_REQUEST_ID = {
    REQUEST_ID_HEADER: {
        "description": "O id da requisição, o mesmo de `error.request_id` (também em toda "
        "resposta de sucesso).",
        "schema": {"type": "string"},
    }
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Segundos a esperar antes de tentar de novo.",
        "schema": {"type": "integer"},
    }
}


def other_client_errors() -> dict[int | str, dict[str, Any]]:
    """A ``responses=`` entry for the shape of every other 4xx answer. It also keeps FastAPI
    from documenting its default 422, which this app never sends (validation errors are
    400)."""
    return {
        "4XX": {
            "model": ErrorBody,
            "description": "Qualquer outro erro do cliente (rota ou método inexistente, "
            "query string longa demais), no mesmo formato.",
            "content": {
                "application/json": {
                    "example": error_body(
                        405, "method_not_allowed", "método não permitido", None, EXAMPLE_REQUEST_ID
                    )
                }
            },
            "headers": dict(_REQUEST_ID),
        }
    }


def error_answer(
    status: int, description: str, code: str, message: str, parameter: str | None = None
) -> dict[str, Any]:
    """A ``responses=`` entry: an error answer in the one shape, with an example."""
    example = error_body(status, code, message, parameter, EXAMPLE_REQUEST_ID)
    return {
        "model": ErrorBody,
        "description": description,
        "content": {"application/json": {"example": example}},
        "headers": {**_REQUEST_ID, **(_RETRY_AFTER if status == 503 else {})},
    }


class IngestRejection(BaseModel):
    position: int = Field(
        description="The record's line number (NDJSON, CSV) or element number (JSON array), from 1."
    )
    reason: str = Field(description="Why it was rejected, in Portuguese.")


class IngestSummary(BaseModel):
    """What one ingest batch did."""

    stored: int = Field(description="New documents stored.")
    replaced: int = Field(description="Documents that replaced one with the same id.")
    rejected: int = Field(description="Records rejected; the others were stored.")
    rejections: list[IngestRejection] = Field(
        description="Each rejection's position and reason (the first ones, when many)."
    )


def ingest_body(kind: Kind) -> dict[str, Any]:
    """``openapi_extra`` of an ingest route: the body media types ``kind`` takes."""
    media_types = ["application/x-ndjson", "application/json"]
    if kind.accepts_csv:
        media_types.append("text/csv")
    return {
        "requestBody": {
            "required": True,
            "description": "NDJSON (one document per line) or a JSON array of documents"
            + ("; CSV with a header row" if kind.accepts_csv else "")
            + ". Each record is checked on its own: one that is not a document or lacks "
            "its id is listed in `rejections` with its position, and the rest are stored.",
            "content": {media: {"schema": _BODY_SCHEMAS[media]} for media in media_types},
        }
    }


_BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    # Never empty: a request without a body gets 400 `empty_body`.
    "application/x-ndjson": {"type": "string", "minLength": 1},
    # Any JSON value: an array of documents, or one document (NDJSON of one line); anything
    # else is a record rejected with its position, in a 200, like a bad line of NDJSON.
    "application/json": {},
    # Any text, not `type: string`: every value a client can send is text, and Schemathesis
    # (4.32) counts an integer sent as CSV text as a request that breaks `type: string`.
    # `minLength` holds for text alone: never empty, as above.
    "text/csv": {"description": "CSV com uma linha de cabeçalho.", "minLength": 1},
}
