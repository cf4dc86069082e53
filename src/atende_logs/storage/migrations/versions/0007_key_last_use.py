"""When each customer key and ingest key was last used.

``last_used_at_ms`` lets an operator see which keys are idle before revoking them (issue 5).
It is written at most once a minute per key by each server process, after the response
(``storage._key_use``), so it is accurate to about a minute and costs no write per request.
Nullable: a key never used since this migration has none.

Revision ID: 0007_key_last_use
Revises: 0006_lgpd
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_key_last_use"
down_revision = "0006_lgpd"
branch_labels = None
depends_on = None

_TABLES = ("api_keys", "ingest_keys")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("last_used_at_ms", sa.BigInteger, nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        # A batch on SQLite (env.py renders batches there): it rebuilds the table.
        with op.batch_alter_table(table) as batch:
            batch.drop_column("last_used_at_ms")
