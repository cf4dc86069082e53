"""Customers, their keys and dialers, and the three log tables.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

_ID_TYPE = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def _log_table(name: str, *columns: sa.Column[object], dialer: bool = False) -> None:
    """A log table: the stored document, its id and time, and its filter columns."""
    scope = ["customer_id", "dialer_id"] if dialer else ["customer_id"]
    op.create_table(
        name,
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        *(
            [sa.Column("dialer_id", sa.Integer, sa.ForeignKey("dialers.id"), nullable=False)]
            if dialer
            else []
        ),
        # Ties in time are ordered by id as text, byte by byte, on both databases: "C"
        # collation on PostgreSQL (its default follows the server's locale), SQLite's BINARY.
        sa.Column("doc_id", _ID_TYPE, nullable=False),
        sa.Column("time_ms", sa.BigInteger, nullable=False),
        # The document as JSON text, passed through to responses without re-parsing.
        sa.Column("doc", sa.Text, nullable=False),
        *columns,
        sa.PrimaryKeyConstraint(*scope, "doc_id", name=f"pk_{name}"),
    )
    # Keyset pagination: every listing is one customer's (dialer's) rows by time, then id.
    op.create_index(f"ix_{name}_time", name, [*scope, "time_ms", "doc_id"])


def _text(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(name, sa.Text) for name in names]


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False, unique=True),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("revoked_at_ms", sa.BigInteger),
    )
    op.create_index("ix_api_keys_customer", "api_keys", ["customer_id"])
    op.create_table(
        "ingest_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False, unique=True),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("revoked_at_ms", sa.BigInteger),
    )
    op.create_table(
        "dialers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("token_prefix", sa.Text, nullable=False),
        sa.Column("token_digest", sa.Text, nullable=False, unique=True),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_dialers_customer", "dialers", ["customer_id"])

    _log_table(
        "attendant_logs",
        *_text("attendant_email", "attendant_name", "description"),
        sa.Column("duration", sa.Float),
        *_text("ani", "source", "direction", "call_id", "voip_version", "kind", "screen"),
        sa.Column("extension_number", sa.Text),
    )
    op.create_index("ix_attendant_logs_call", "attendant_logs", ["customer_id", "call_id"])
    op.create_index(
        "ix_attendant_logs_email",
        "attendant_logs",
        ["customer_id", "attendant_email", "time_ms", "doc_id"],
    )
    _log_table(
        "cdrs",
        sa.Column("alt_dnis", sa.Text),
        sa.Column("ori_billing_time", sa.BigInteger),
        *_text(
            "total_charge",
            "selected_options",
            "zendesk_ticket_id",
            "configuration_kind",
            "period",
            "call_terminated",
            "call_status",
        ),
    )
    _log_table(
        "cards",
        *_text("number", "status", "card_info_1", "card_info_2", "card_info_3"),
        dialer=True,
    )


def downgrade() -> None:
    for table in ("cards", "cdrs", "attendant_logs", "dialers", "ingest_keys", "api_keys"):
        op.drop_table(table)
    op.drop_table("customers")
