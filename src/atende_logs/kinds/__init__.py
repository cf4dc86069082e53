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
   columns into docs/api.md and docs/export.md; say what it is in the README.

Until the ingest routes and the import command are made from ``KINDS`` (issue 15, point
2), it also needs its route in ``http/routes/ingest.py`` and its name in
``cli/importing.py``'s ``KindName``.
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
