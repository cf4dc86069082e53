"""The erasure audit's counts move to a table of their own, a row per kind.

Migration 0006 gave ``erasures`` a column per kind (``attendant_logs``, ``cdrs``,
``cards``), so a new kind would have needed a column, and the code a name for it. Now each
erasure has a row in ``erasure_counts`` per kind, keyed by the kind's name. The existing
counts are copied over.

The old columns stay, as every migration here is additive (docs/cli.md): during a rolling
deploy, the previous release's CLI still writes and reads them. This release writes them
too and reads them for an erasure that has no counts rows (one that release made); the
release after drops them.

Revision ID: 0012_erasure_counts
Revises: 0011_ingest_key_scope
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_erasure_counts"
down_revision = "0011_ingest_key_scope"
branch_labels = None
depends_on = None

# Kind name -> its column in erasures, as migration 0006 made them.
_COLUMNS = {"attendant-logs": "attendant_logs", "cdrs": "cdrs", "cards": "cards"}


def upgrade() -> None:
    op.create_table(
        "erasure_counts",
        sa.Column("erasure_id", sa.Integer, sa.ForeignKey("erasures.id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        # Documents of that kind that held the number: redacted or deleted (docs/lgpd.md).
        sa.Column("documents", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("erasure_id", "kind", name="pk_erasure_counts"),
    )
    for kind, column in _COLUMNS.items():
        op.execute(
            f"INSERT INTO erasure_counts (erasure_id, kind, documents) "
            f"SELECT id, '{kind}', {column} FROM erasures"
        )


def downgrade() -> None:
    # The old columns were kept up to date: nothing to copy back.
    op.drop_table("erasure_counts")
