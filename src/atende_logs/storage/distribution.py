"""How the schema splits across the nodes of a distributed PostgreSQL (Citus), by customer.

Every table is one of three things (docs/scale.md):

- **distributed by ``customer_id``**: the logs, their change feed and everything kept per
  customer and kind. Citus puts a customer's rows of all of them on one node (co-located),
  so every request of a customer runs on one node, joins and transactions included.
- **a reference table**: small, and copied whole to every node. Credentials are looked up
  by their digest before the customer is known, so they cannot be split by customer.
- **the coordinator's alone**: Alembic's version row.

``tests/storage/test_distribution.py`` reads the live schema and fails on any table left
out of these lists, and on any constraint that ``create_distributed_table(…, 'customer_id')``
would refuse: a primary key or unique constraint of a distributed table not led by
``customer_id``, or a foreign key from a reference table to a distributed one.
"""

from __future__ import annotations

from atende_logs.kinds import KINDS

DISTRIBUTION_COLUMN = "customer_id"

PER_CUSTOMER_TABLES = (
    "data_versions",
    "hourly_counts",
    "split_counts",
    "retention_policies",
    "change_horizons",
    "retention_marks",
)
"""Kept per customer (and kind) beside the logs; distributed with them."""

REFERENCE_TABLES = {
    "customers": "every distributed table's foreign keys point at it",
    "api_keys": "looked up by digest, before the customer is known",
    "ingest_keys": "looked up by digest; a producer's key may serve many customers",
    "ingest_key_customers": "which customers an ingest key may write: read with the key",
    "dialers": "looked up by token digest; cards' foreign keys point at it",
    "erasures": "the LGPD audit trail: a few rows per request, read rarely",
    "erasure_counts": "the erasures' counts by kind",
}
"""Each reference table, and why it is not split by customer."""

COORDINATOR_TABLES = ("alembic_version",)


def distributed_tables() -> list[str]:
    """The tables split by ``customer_id``, the first of them the one the others follow."""
    logs = [kind.table for kind in KINDS.values()]
    return [*logs, *(f"{table}_changes" for table in logs), *PER_CUSTOMER_TABLES]


def citus_commands() -> list[str]:
    """The statements that distribute a migrated database, in the order Citus needs them:
    reference tables first, since distributed tables' foreign keys point at them."""
    first, *others = distributed_tables()
    return [
        *(f"SELECT create_reference_table('{table}');" for table in REFERENCE_TABLES),
        f"SELECT create_distributed_table('{first}', '{DISTRIBUTION_COLUMN}');",
        *(
            f"SELECT create_distributed_table('{table}', '{DISTRIBUTION_COLUMN}', "
            f"colocate_with => '{first}');"
            for table in others
        ),
    ]
