"""A version number per customer and kind of log, bumped by every write.

It lets a listing's ``total`` be counted once and reused on its later pages while, and
only while, nothing of that customer's kind has changed.

Revision ID: 0002_data_versions
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_data_versions"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_versions",
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "kind", name="pk_data_versions"),
    )


def downgrade() -> None:
    op.drop_table("data_versions")
