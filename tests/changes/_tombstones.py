"""Removals that leave a tombstone each, for the tests of the feed's history (pruning, 410).

Retention tells its removals with one mark (docs/sync.md, "Retention"); the other removals
(an erasure of a kind that deletes, a record leaving a filter) leave one tombstone per
record. This deletes records the way an erasure does, through the store's own transaction
and change recording, so that any kind has tombstones to prune.
"""

from __future__ import annotations

from atende_logs.kinds import Kind
from atende_logs.storage import Store


def delete_records(store: Store, customer_id: int, kind: Kind, ids: list[str]) -> None:
    """Delete the customer's records ``ids`` of a customer-scoped ``kind``, one tombstone each."""
    assert not kind.scope.by_dialer
    with store._writing() as connection:  # type: ignore[attr-defined]
        for doc_id in ids:
            connection.execute(
                store._sql(  # type: ignore[attr-defined]
                    f"DELETE FROM {kind.table} WHERE customer_id = ? AND doc_id = ?"
                ),
                [customer_id, doc_id],
            )
        store._record_changes(  # type: ignore[attr-defined]
            connection, kind, customer_id, [(doc_id,) for doc_id in ids], deleted=True
        )
