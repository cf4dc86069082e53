"""The kinds of log, one module each, and ``KINDS``, the registry everything else reads.

Everything that differs between kinds is a field of its ``Kind``: where it is stored, how
it is ordered and filtered, its flat columns, its example, and each policy (whose a
document is, which fields are masked, whether an id may be derived, whether CSV is taken,
what erasure does). Code elsewhere reads those fields and never names a kind.

Adding a kind (tests/test_new_kind.py does it with a made-up one):

1. ``kinds/<name>.py``: its ``Kind``, with its filters, its flat columns (its example's
   fields, flattened, in order) and its policies; list it in ``KINDS`` below.
2. A migration calling ``storage.migrations.log_tables.create_log_table`` with its table,
   scope and filter columns, spelt out.
3. Its example response in ``atende_logs/http/examples/`` (``Kind.example_file``).
4. Its docs: ``UPDATE_DOCS=1 pytest tests/test_docs.py`` writes its filters and export
   columns into docs/api.md and docs/export.md; list its ingest endpoint in docs/ingest.md
   and say what it is in the README.

Nothing else is written per kind: its search and ingest routes (``search_router`` and
``ingest_router``, over ``KINDS``), their OpenAPI operations, and the CLI's choices of kind
(``import``, ``pull``, ``ingest-keys create --kind``) are all made from it.
"""

from __future__ import annotations

from atende_logs.kinds._kind import (
    ColumnType,
    Doc,
    ErasureAction,
    FilterSpec,
    Flat,
    FlatType,
    Kind,
    Path,
    Scope,
    exact_filter,
    getter,
    phone_filter,
    value_at,
)
from atende_logs.kinds.attendant_logs import ATTENDANT_LOGS
from atende_logs.kinds.cards import CARDS
from atende_logs.kinds.cdrs import CDRS

KINDS: dict[str, Kind] = {kind.name: kind for kind in (ATTENDANT_LOGS, CDRS, CARDS)}
"""Every kind, by name, in the order of the docs. Read it when needed, not at import: a
kind added to it later (a test's) must be seen."""

__all__ = [
    "ATTENDANT_LOGS",
    "CARDS",
    "CDRS",
    "KINDS",
    "ColumnType",
    "Doc",
    "ErasureAction",
    "FilterSpec",
    "Flat",
    "FlatType",
    "Kind",
    "Path",
    "Scope",
    "exact_filter",
    "getter",
    "phone_filter",
    "value_at",
]
