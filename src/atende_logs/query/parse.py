"""Request parameters (raw text pairs) into a validated ``SearchQuery``.

Nothing is silently ignored: an unknown or repeated parameter is an error, so a misspelt
filter can never return everything. An empty value (``?start_at=``, as the spec's URL
template lists them) means the parameter was not given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo

from atende_logs import normalize
from atende_logs.errors import ParameterError
from atende_logs.formats import Format, Output
from atende_logs.kinds import FilterSpec, Kind
from atende_logs.models import Condition, Cursor, ItemRef, SearchQuery
from atende_logs.normalize import ASCII_DIGITS
from atende_logs.query.cursor import parse_after
from atende_logs.query.output import OUTPUT_PARAMETERS, parse_output
from atende_logs.query.resume import names_item, parse_item_ref
from atende_logs.query.times import parse_instant, zone

DEFAULT_SIZE = 100
MAX_SIZE = 1000

COMMON_PARAMETERS: dict[str, str] = {
    "start_at": "Data inicio do log",
    "end_at": "Data fim do log",
    "after": "Busca os proximos itens da consulta",
    "size": "Tamanho maximo de itens retornados (Maximo de 1000 itens)",
    "tz": "Fuso horário (nome IANA) de datas e datas-horas sem fuso; padrão America/Sao_Paulo",
}
TOKEN_PARAMETER = "token"
TOKEN_HEADER = "x-dialer-token"
"""Where a cards request may carry its dialer token instead of ``token``: out of the URL,
and so out of proxies' and servers' logs (issue 21)."""

_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*")

# What a client must send for each kind of comparison, said when it sends something else.
_EXPECTED: dict[Callable[[Any], Any], str] = {
    normalize.phone: "deve conter os dígitos de um número de telefone",
    normalize.integer: "deve ser um número inteiro",
    normalize.number: "deve ser um número em segundos, como 29.5 ou 29,5 (sem expoente)",
    normalize.decimal_key: "deve ser um número decimal como 1.35 ou 1,35 (um só separador "
    "decimal, sem separador de milhar nem expoente)",
    normalize.version_key: "deve ser uma versão como 1.14.111.1559",
}
# Text compared as sent, blanks included ("equals the value exactly"); other keys read a
# value, so blanks around it are dropped first.
_AS_SENT: frozenset[Callable[[Any], Any]] = frozenset(
    {normalize.scalar_text, normalize.exact, normalize.extension}
)


def accepted_parameters(kind: Kind, *, output: bool = False) -> list[str]:
    """Every parameter of a search of ``kind`` in documentation order; with ``output``,
    also those choosing the response's format (what an endpoint accepts)."""
    token = [TOKEN_PARAMETER] if kind.scope.by_dialer else []
    shape = list(OUTPUT_PARAMETERS) if output else []
    return token + list(COMMON_PARAMETERS) + shape + [spec.param for spec in kind.filters]


def parse_search(
    kind: Kind,
    pairs: Iterable[tuple[str, str]],
    *,
    customer_id: int,
    default_tz: str,
    token_header: str | None = None,
) -> SearchQuery:
    """Validate a request's query parameters for ``kind``, scoped to ``customer_id``;
    ``token_header`` is the request's ``x-dialer-token`` header, if any.

    Raises ParameterError naming the first parameter that is unknown, repeated, missing
    or malformed.
    """
    params = _single_values(accepted_parameters(kind), pairs)
    return _search_query(kind, params, customer_id, default_tz, token_header)


def parse_listing(
    kind: Kind,
    pairs: Iterable[tuple[str, str]],
    *,
    default_format: Format,
    customer_id: int,
    default_tz: str,
    token_header: str | None = None,
) -> tuple[SearchQuery, Output]:
    """``parse_search`` for an endpoint's request, which may also choose the output format
    (``default_format`` is what its Accept header asked for; ``format`` wins over it).

    Raises ParameterError naming the first parameter that is unknown, repeated, missing
    or malformed.
    """
    params = _single_values(accepted_parameters(kind, output=True), pairs)
    shape = {name: params.pop(name) for name in OUTPUT_PARAMETERS if name in params}
    output = parse_output(shape, default_format)
    return _search_query(kind, params, customer_id, default_tz, token_header), output


def _search_query(
    kind: Kind,
    params: dict[str, str],
    customer_id: int,
    default_tz: str,
    token_header: str | None = None,
) -> SearchQuery:
    tz = zone(params.pop("tz", default_tz))
    start = _bound(params.pop("start_at", None), "start_at", tz)
    end = _bound(params.pop("end_at", None), "end_at", tz)
    # The resolved instants, not the texts: start_at=...T12:00&end_at=<that day> is a
    # range; only one holding no millisecond is refused (docs/api.md, *Times*).
    if start is not None and end is not None and start > end:
        raise ParameterError("start_at", "start_at é posterior a end_at", code="invalid_range")
    after_raw = params.pop("after", None)
    token = _dialer_token(kind, params.pop(TOKEN_PARAMETER, None), token_header)
    size = _size(params.pop("size", None))
    after, after_item = _after(after_raw, kind, default_tz)
    return SearchQuery(
        kind=kind,
        customer_id=customer_id,
        size=size,
        start_ms=start,
        end_ms=end,
        after=after,
        after_item=after_item,
        conditions=tuple(_condition(kind.filter(name), value) for name, value in params.items()),
        dialer_token=token,
    )


def _dialer_token(kind: Kind, parameter: str | None, header: str | None) -> str | None:
    """The dialer token of a request for a dialer's documents (cards), from ``token`` or
    the ``x-dialer-token`` header. Both may be sent if they agree; two different tokens are
    refused rather than one of them picked. Other kinds ignore the header, as any header
    they do not read."""
    if not kind.scope.by_dialer:
        return None
    header = header if header and header.strip() else None
    if parameter is not None and header is not None and parameter != header:
        raise ParameterError(
            TOKEN_PARAMETER,
            f"token e o cabeçalho {TOKEN_HEADER} trazem tokens diferentes",
            code="conflicting_token",
        )
    token = parameter if parameter is not None else header
    if token is None:
        raise ParameterError(
            TOKEN_PARAMETER,
            f"token do discador é obrigatório (parâmetro token ou cabeçalho {TOKEN_HEADER})",
            code="missing_parameter",
        )
    return token


def _single_values(accepted: list[str], pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if "\x00" in value:
            # No database stores a NUL in text: refuse it here rather than fail there.
            raise ParameterError(name, f"{name} contém um caractere nulo")
        if name not in accepted:
            raise ParameterError(
                name,
                f"parâmetro desconhecido: {name!r}; aceitos: {', '.join(accepted)}",
                code="unknown_parameter",
            )
        if name in seen:
            raise ParameterError(name, f"parâmetro repetido: {name!r}", code="duplicate_parameter")
        seen.add(name)
        # A tab is a delimiter, not a blank: the only value a strip() would lose.
        if value.strip() or (value and name == "delimiter"):
            values[name] = value
    return values


def _after(raw: str | None, kind: Kind, ingest_tz: str) -> tuple[Cursor | None, ItemRef | None]:
    """``after`` as a position, or as an item the store must find (``after_item``).

    A card timestamp without an offset is read in the zone ingest read it in: the server's,
    never the request's ``tz``.
    """
    if raw is None:
        return None, None
    if names_item(raw):
        return None, parse_item_ref(raw, kind, zone(ingest_tz))
    return parse_after(raw), None


def _bound(raw: str | None, param: str, tz: ZoneInfo) -> int | None:
    if raw is None:
        return None
    return parse_instant(raw, param=param, end=param == "end_at", tz=tz)


def _size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_SIZE
    text = raw.strip().lstrip("0") or "0"
    # The length first: int() of more than 4,300 digits raises instead of answering.
    if not ASCII_DIGITS.fullmatch(text) or len(text) > 4 or not 1 <= int(text) <= MAX_SIZE:
        raise ParameterError("size", f"size deve ser um inteiro entre 1 e {MAX_SIZE}: {raw!r}")
    return int(text)


def _condition(spec: FilterSpec | None, raw: str) -> Condition:
    assert spec is not None  # _single_values only lets known parameters through
    if spec.key is normalize.version_key and _VERSION.fullmatch(raw.strip()) is None:
        key = None
    else:
        key = spec.key(raw if spec.key in _AS_SENT else raw.strip())
    if key is None:
        expected = _EXPECTED.get(spec.key, "valor inválido")
        raise ParameterError(spec.param, f"{spec.param} {expected}: {raw!r}")
    return Condition(spec, key)
