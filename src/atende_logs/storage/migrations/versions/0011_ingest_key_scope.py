"""Ingest keys get a scope: the customers, and optionally the kinds, they may write.

Until now any ingest key could write, and replace, any customer's logs (issue 21, finding
2.4). A key now writes to every customer (``all_customers``) or only to those listed in
``ingest_key_customers``, and to every kind or only to those in ``kinds`` (comma-separated
kind names; null: every kind).

Keys that exist when this runs get ``all_customers`` true and no kinds: exactly what they
could do before, so producers keep working through the upgrade. The operator narrows them
by creating scoped keys and revoking the old ones (``atende-logs ingest-keys list`` shows
each key's scope); the upgrade logs how many keys were left unscoped. The column default is
true for the same reason: an older release, still serving during a rolling deploy, creates
keys as it always did, and they can do what they could do in that release.

Revision ID: 0011_ingest_key_scope
Revises: 0009_sqlite_upsert_counts
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0011_ingest_key_scope"
down_revision = "0010_filter_keys"
branch_labels = None
depends_on = None

logger = logging.getLogger("atende_logs.migrations")


def upgrade() -> None:
    op.add_column(
        "ingest_keys",
        sa.Column("all_customers", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.add_column("ingest_keys", sa.Column("kinds", sa.Text, nullable=True))
    op.create_table(
        "ingest_key_customers",
        sa.Column("ingest_key_id", sa.Integer, sa.ForeignKey("ingest_keys.id"), nullable=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.PrimaryKeyConstraint("ingest_key_id", "customer_id"),
    )
    live = op.get_bind().execute(
        sa.text("SELECT count(*) FROM ingest_keys WHERE revoked_at_ms IS NULL")
    )
    count = live.scalar_one()
    if count:
        logger.warning(
            "%d live ingest key(s) keep writing to every customer, as before this upgrade; "
            "`atende-logs ingest-keys list` shows them. Replace them with keys scoped by "
            "`ingest-keys create NAME --customer ID` and revoke the old ones.",
            count,
        )


def downgrade() -> None:
    op.drop_table("ingest_key_customers")
    with op.batch_alter_table("ingest_keys") as batch:
        batch.drop_column("kinds")
        batch.drop_column("all_customers")
