"""The kinds of log, one module each, and ``KINDS``, the registry everything else reads.

Everything that differs between kinds is a field of its ``Kind``: where it is stored, how
it is ordered and filtered, its flat columns, its example, and each policy (whose a
document is, which fields are masked, whether an id may be derived, whether CSV is taken,
what erasure does). Code elsewhere reads those fields and never names a kind.
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
    getter,
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
    "getter",
    "value_at",
]
