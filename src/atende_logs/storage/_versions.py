"""The data version of each customer's kind of log (migration 0002).

Every write to a customer's documents of one kind bumps it, in the writing transaction, so
no reader sees the new rows with the old version. A listing's total is counted once per
version and reused by its later pages (``_counts``): equal versions mean the same rows.
"""

from __future__ import annotations

VERSION = "COALESCE((SELECT version FROM data_versions WHERE customer_id = ? AND kind = ?), 0)"
"""The data version of a customer's kind, as a column (0 before its first write).
Parameters: the customer id and the kind's table."""

BUMP_VERSION = (
    "INSERT INTO data_versions (customer_id, kind, version) VALUES (?, ?, 1) "
    "ON CONFLICT (customer_id, kind) DO UPDATE SET version = data_versions.version + 1"
)
"""Adds one to a customer's kind's data version. Parameters as ``VERSION``'s."""
