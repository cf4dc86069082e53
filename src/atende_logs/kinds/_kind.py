"""What a kind of log is: the ``Kind`` value, its filters, its flat columns, and each policy
that differs between kinds, under a name of its own.

A ``FilterSpec`` ties a query parameter to its column, its comparison and the single
normalising function applied both to the stored document (at ingest) and to the value a
client sends (at query time), so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
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


class Scope(Enum):
    """Whose a stored document is: the customer's, or one dialer's of the customer.

    A dialer's documents are stored under the dialer they were sent for (the ingest URL
    names it), and a search names the dialer by its token (``token``, or the
    ``x-dialer-token`` header): it never sees another dialer's.
    """

    CUSTOMER = ("customer_id",)
    DIALER = ("customer_id", "dialer_id")

    _value_: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The stored columns that, with ``doc_id``, are a document's primary key."""
        return self._value_

    @property
    def by_dialer(self) -> bool:
        """Whether documents belong to a dialer (whose token a search must send)."""
        return self is Scope.DIALER

    def key(self, customer_id: int, dialer_id: int | None) -> list[int | None]:
        """The values of ``columns`` for a customer (and dialer)."""
        return [customer_id, dialer_id] if self is Scope.DIALER else [customer_id]


FlatType = Literal["boolean", "integer", "time", "text"]


@dataclass(frozen=True, eq=False)  # compared, and hashed, by identity: it keys caches
class Flat:
    """A kind's documents as rows of flat columns, for CSV and Parquet (``export.columns``).

    The columns are the spec's example document flattened: nested objects become dotted
    names (``attendant.email``), arrays stay whole; in the order of the example's fields,
    fixed so that a file's columns never depend on its data (a test checks them against
    the example). A column is text unless listed in ``booleans``, ``integers`` or
    ``times``, as its value in the example is (``client.parquet``).
    """

    columns: tuple[str, ...]
    booleans: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    times: tuple[str, ...] = ()

    def type_of(self, column: str) -> FlatType:
        if column in self.booleans:
            return "boolean"
        if column in self.integers:
            return "integer"
        return "time" if column in self.times else "text"


ErasureAction = Literal["redact", "delete"]


@dataclass(frozen=True)
class Kind:
    """One kind of log and everything that differs between kinds.

    A fourth kind is one more of these, its table's migration, its example and its docs:
    the recipe is in ``atende_logs.kinds``.
    """

    name: str
    """Slug: the CLI's and the ingest URL's name of the kind, in ingest key scopes and in
    erasure counts."""
    table: str
    path: str
    """The documented GET path."""
    time_field: str
    id_field: str
    filters: tuple[FilterSpec, ...]
    flat: Flat
    """Its CSV and Parquet columns."""

    label: str
    """What one document is called in English, for the CLI's messages ("CDR")."""
    summary: str
    """The search endpoint's summary in OpenAPI (Portuguese, as the spec names it)."""
    description: str
    """The search endpoint's description in OpenAPI (Portuguese, as in the spec)."""
    example_file: str
    """The spec's example response, a file of ``atende_logs/http/examples``."""

    # The policies: each decision that differs between kinds, named.
    scope: Scope = Scope.CUSTOMER
    """Whose a document is: the query's scope, the primary key, the ingest URL."""
    masked_fields: tuple[str, ...] = ()
    """Fields stored as ``ingest.documents.TOKEN_MASK``, whatever was sent and whether or
    not it was: credentials are never stored in clear, so no dump or response leaks them."""
    derived_id_from: str | None = None
    """The field that, with the dialer and the time, identifies a document sent without
    its id (``normalize.derived_card_id``; ``after=card:<value>@<time>`` finds it again).
    None: a document without its id is rejected."""
    accepts_csv: bool = False
    """Whether ingest takes CSV (a header row, then flat records): for documents whose
    fields are flat and few."""
    erasure: ErasureAction = "redact"
    """What erasing a phone number does to a document holding it: ``redact`` takes the
    number out and keeps the record, ``delete`` drops the record (docs/lgpd.md says why)."""
    splits: tuple[str, ...] = ()
    """The filters whose values may split the bars of its stats (``split=``, issue 20): a
    few values each, that a supervisor reads as categories (a status, a screen)."""

    @property
    def changes_path(self) -> str:
        """The GET path of its change feed (issue 16): its documented path's ``/changes``."""
        return f"{self.path}/changes"

    @property
    def stats_path(self) -> str:
        """The GET path of its aggregate counts over time (issue 20)."""
        return f"{self.path}/stats"

    @property
    def ingest_path(self) -> str:
        """The path of its ingest endpoint, below ``/ingest``."""
        dialer = "/dialers/{dialer_id}" if self.scope.by_dialer else ""
        return f"/customers/{{customer_id}}{dialer}/{self.name}"

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

    def __post_init__(self) -> None:
        stored = {spec.param for spec in self.stored_filters}
        if not stored.issuperset(self.splits):
            raise ValueError(f"{self.name}: splits must be stored filters: {self.splits}")


def exact_filter(param: str, *path: str, description: str, example: str) -> FilterSpec:
    """A filter of one text field, compared exactly (in Unicode NFC)."""
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


def phone_filter(param: str, paths: tuple[Path, ...], what: str, description: str) -> FilterSpec:
    """A filter of a phone number, however it is written (``normalize.phone``)."""
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
