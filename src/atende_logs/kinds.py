"""The three kinds of log: where each is stored, how it is ordered, and what it filters on.

A ``FilterSpec`` ties a query parameter to its column, its comparison and the single
normalising function applied both to the stored document (at ingest) and to the value a
client sends (at query time), so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from atende_logs import normalize

Doc = dict[str, Any]
Path = tuple[str, ...]
ColumnType = Literal["text", "integer", "real"]


def value_at(doc: Doc, *path: str) -> Any:
    """The value at ``path`` in a document, or None when any step is missing."""
    value: Any = doc
    for step in path:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
    return value


def getter(paths: tuple[Path, ...]) -> Callable[[Doc], Any]:
    """A function giving the first non-null value at ``paths`` in a document.

    Built once per filter: it runs for every filter of every ingested document, so the
    common one- and two-step paths get a straight-line function instead of a loop.
    """

    def one(path: Path) -> Callable[[Doc], Any]:
        if len(path) == 1:
            (key,) = path
            return lambda doc: doc.get(key)
        if len(path) == 2:
            outer, inner = path
            return lambda doc: (
                value.get(inner) if isinstance(value := doc.get(outer), dict) else None
            )
        return lambda doc: value_at(doc, *path)

    getters = [one(path) for path in paths]
    if len(getters) == 1:
        return getters[0]

    def first(doc: Doc) -> Any:
        for get in getters:
            value = get(doc)
            if value is not None:
                return value
        return None

    return first


@dataclass(frozen=True)
class FilterSpec:
    """One filter parameter of an endpoint."""

    param: str
    column: str
    column_type: ColumnType
    op: Literal["=", ">="]
    key: Callable[[Any], Any]
    """Normalises a document value and a client value alike; None means "no key"."""
    paths: tuple[Path, ...]
    """Where in a document the value is: the first of these paths that is not null."""
    description: str
    """The spec's Portuguese description."""
    semantics: str
    """How the comparison works, in English, for the docs."""
    example: str
    extract: Callable[[Doc], Any] = field(init=False, repr=False, compare=False)
    """The raw document value this filter looks at."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "extract", getter(self.paths))


@dataclass(frozen=True)
class Kind:
    """One kind of log and everything that differs between kinds."""

    name: str
    """Slug used by the CLI and the ingest URLs."""
    table: str
    path: str
    """The documented GET path."""
    time_field: str
    id_field: str
    filters: tuple[FilterSpec, ...]
    has_dialer: bool = False

    @cached_property
    def stored_filters(self) -> tuple[FilterSpec, ...]:
        """Filters whose key is stored in a column of its own beside each document."""
        return tuple(spec for spec in self.filters if spec.column != "doc_id")

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The filter columns stored beside each document, in insert order."""
        return tuple(spec.column for spec in self.stored_filters)

    @cached_property
    def stored_keys(self) -> tuple[tuple[Callable[[Doc], Any], Callable[[Any], Any]], ...]:
        """(extract, key) of each stored filter, in column order: ingest's inner loop."""
        return tuple((spec.extract, spec.key) for spec in self.stored_filters)

    def stored_values(self, doc: Doc) -> list[Any]:
        """The filter columns of ``doc``, as ingest stores them: text holding a NUL, which
        neither database stores, is no key (None)."""
        values = [key(extract(doc)) for extract, key in self.stored_keys]
        return [None if isinstance(v, str) and "\x00" in v else v for v in values]

    def filter(self, param: str) -> FilterSpec | None:
        return next((spec for spec in self.filters if spec.param == param), None)


def _exact(param: str, *path: str, description: str, example: str) -> FilterSpec:
    return FilterSpec(
        param=param,
        column=param,
        column_type="text",
        op="=",
        key=normalize.exact,
        paths=(path,),
        description=description,
        semantics=f"`{'.'.join(path)}` equals the value exactly (in Unicode NFC).",
        example=example,
    )


def _phone(param: str, paths: tuple[Path, ...], what: str, description: str) -> FilterSpec:
    return FilterSpec(
        param=param,
        column=param,
        column_type="text",
        op="=",
        key=normalize.phone,
        paths=paths,
        description=description,
        semantics=f"{what} is the same phone number as the value, however either is written "
        '(see *Phone numbers* below): "(63) 98486-6338" matches "5563984866338", '
        '"0800 887 0608" matches "5508008870608".',
        example="5563984866338",
    )


ATTENDANT_LOGS = Kind(
    name="attendant-logs",
    table="attendant_logs",
    path="/customers/attendants/logs",
    time_field="timestamp",
    id_field="id",
    filters=(
        FilterSpec(
            "attendant_email",
            "attendant_email",
            "text",
            "=",
            normalize.fold,
            (
                ("attendant", "email"),
                ("email",),
            ),
            "Email do atendente",
            "`attendant.email` (or the top-level `email` when absent) equals the value, "
            "ignoring case (Unicode case folding, in NFC).",
            "rh1@atende.com",
        ),
        FilterSpec(
            "attendant_name",
            "attendant_name",
            "text",
            "=",
            normalize.fold,
            (
                ("attendant", "name"),
                ("name",),
            ),
            "Nome do atendente",
            "`attendant.name` (or the top-level `name` when absent) equals the value, "
            "ignoring case (Unicode case folding, in NFC).",
            "RH1",
        ),
        _exact("description", "description", description="Descrição da tela", example="almoco"),
        FilterSpec(
            "duration",
            "duration",
            "real",
            ">=",
            normalize.number,
            (("duration",),),
            "Duração Maior ou Igual ao valor (em segundos)",
            "`duration` is greater than or equal to the value, in seconds "
            '("29.5" or "29,5"; no exponent).',
            "30",
        ),
        _phone(
            "ani",
            (
                ("ani_number",),
                ("call", "ani_number"),
            ),
            "`ani_number` (or `call.ani_number` when absent)",
            "Número ANI",
        ),
        _exact("source", "source", description="Origem da chamada", example="voip"),
        FilterSpec(
            "direction",
            "direction",
            "text",
            "=",
            normalize.exact,
            (
                ("complements", "ringing", "direction"),
                ("complements", "busy", "direction"),
                ("complements", "wrapup", "direction"),
            ),
            "Direção da chamada",
            "The call's direction, the first non-null of `complements.ringing.direction`, "
            "`complements.busy.direction` and `complements.wrapup.direction`, equals the value "
            "exactly (in Unicode NFC).",
            "inbound",
        ),
        _exact("call_id", "call", "call_id", description="ID da chamada", example="69709941"),
        FilterSpec(
            "voip_version",
            "voip_version",
            "text",
            ">=",
            normalize.version_key,
            (("machine_attributes", "voipNumberVersion"),),
            "Versão do VoIP Maior ou Igual ao valor",
            "`machine_attributes.voipNumberVersion` is greater than or equal to the value, "
            "compared part by part as numbers (1.14.111.1559 >= 1.9).",
            "1.14",
        ),
        _exact("kind", "kind", description="Tipo de log", example="status"),
        _exact("screen", "screen", description="Nome da tela", example="disconnected"),
        FilterSpec(
            "extension_number",
            "extension_number",
            "text",
            "=",
            normalize.extension,
            (
                ("extension_number",),
                ("attendant", "extension_number"),
            ),
            "Ramal",
            "`extension_number` (or `attendant.extension_number` when absent) equals the "
            "value. A value of digits only is a number, leading zeros ignored: "
            '"19" matches "19", "019" and 19. Other text is compared exactly (in Unicode NFC).',
            "19",
        ),
    ),
)

CDRS = Kind(
    name="cdrs",
    table="cdrs",
    path="/customers/cdrs/logs",
    time_field="ori_start_time",
    id_field="callid",
    filters=(
        FilterSpec(
            "call_id",
            "doc_id",
            "text",
            "=",
            normalize.scalar_text,
            (("callid",),),
            "ID da chamada",
            "`callid`, the CDR's id, equals the value exactly, as stored (ids are not "
            "normalised: they identify the record).",
            "69709941",
        ),
        _phone("alt_dnis", (("alt_dnis",),), "`alt_dnis`", "Número da chamada"),
        FilterSpec(
            "ori_billing_time",
            "ori_billing_time",
            "integer",
            "=",
            normalize.integer,
            (("ori_billing_time",),),
            "Duração arredondada",
            "`ori_billing_time` equals the value, a whole number of seconds.",
            "60",
        ),
        FilterSpec(
            "total_charge",
            "total_charge",
            "text",
            "=",
            normalize.decimal_key,
            (("total_charge",),),
            "Valor total",
            "`total_charge` equals the value as a decimal number: "
            '"1.35", "1,35" and "1.350" all match 1.35. One decimal point or comma, no '
            'thousands separator and no exponent: "1.234,56" and "1e2" are refused (400).',
            "1.35",
        ),
        _exact(
            "selected_options",
            "selected_options",
            description="Opções chamada navegou",
            example="2,4",
        ),
        _exact(
            "zendesk_ticket_id",
            "zendesk_ticket_id",
            description="Ticket zendesk",
            example="123456",
        ),
        _exact(
            "configuration_kind",
            "configuration_kind",
            description="Tipo do discador",
            example="default",
        ),
        _exact("period", "period", description="Periodo", example="worktime"),
        _exact("call_terminated", "call_terminated", description="Quem desligou", example="A"),
        _exact(
            "call_status",
            "call_status",
            description="Status da chamada (extensão: não consta na especificação original)",
            example="abandoned",
        ),
    ),
)

CARDS = Kind(
    name="cards",
    table="cards",
    path="/customers/dialer-queue/cards",
    time_field="timestamp",
    id_field="id",
    has_dialer=True,
    filters=(
        _phone("number", (("number",),), "`number`", "Numero de discagem"),
        _exact("status", "status", description="Status da ficha", example="to_call"),
        _exact("card_info_1", "card_info_1", description="Info discador 1", example="Truck"),
        _exact("card_info_2", "card_info_2", description="Info discador 2", example="Grade Baixa"),
        _exact("card_info_3", "card_info_3", description="Info discador 3", example="NÃO"),
    ),
)

KINDS: dict[str, Kind] = {kind.name: kind for kind in (ATTENDANT_LOGS, CDRS, CARDS)}
