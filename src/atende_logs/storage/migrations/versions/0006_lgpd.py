"""LGPD: how long each customer's logs are kept, and an audit of every number erased.

``retention_policies`` holds a customer's retention in days; a customer without a row keeps
logs for ``ATENDE_RETENTION_DAYS`` (default 1825 days, five years: the time a consumer has
to claim for damages from a service, CDC art. 27, during which the call records are the
customer's evidence; a customer that needs less sets less). A table of its own rather than
a column of ``customers``: nothing that reads customers changes; the downgrade is a drop.

``erasures`` records each ``atende-logs erase``: who asked, when, for which customer, and
how many records of each kind changed. It never holds the number: an audit holding it would
be the one place the erased number survives. It keeps the last four digits, the convention
card statements use (PCI DSS): enough for the person who asked to recognise their request
("final 4321") and to tell two requests apart, while about a million numbers of every area
code share any four final digits.

Revision ID: 0006_lgpd
Revises: 0005_hourly_counts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_lgpd"
down_revision = "0005_hourly_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), primary_key=True),
        sa.Column("days", sa.Integer, nullable=False),
        sa.CheckConstraint("days >= 1", name="ck_retention_policies_days"),
    )
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("erased_at_ms", sa.BigInteger, nullable=False),
        sa.Column("phone_last_digits", sa.Text, nullable=False),
        # Records changed: attendant logs and CDRs redacted, cards deleted (docs/lgpd.md).
        sa.Column("attendant_logs", sa.Integer, nullable=False),
        sa.Column("cdrs", sa.Integer, nullable=False),
        sa.Column("cards", sa.Integer, nullable=False),
    )
    op.create_index("ix_erasures_customer", "erasures", ["customer_id", "erased_at_ms"])


def downgrade() -> None:
    op.drop_index("ix_erasures_customer", "erasures")
    op.drop_table("erasures")
    op.drop_table("retention_policies")
