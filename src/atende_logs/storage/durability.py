"""Whether the database keeps what it acknowledged: checked once, when the server starts.

The ingest endpoints answer only after their transaction commits, and producers drop a
batch once it is acknowledged: a commit the database may lose loses logs for good. SQLite's
side is ours to set, on every connection the store opens (WAL, ``synchronous=FULL``, in
``storage/sqlite.py``). PostgreSQL's is the server's: an administrator may have turned off
one of the settings below to speed up a bulk load and forgotten it. The server still starts
(they are the administrator's call) but says so in its log, one line per setting.
"""

from __future__ import annotations

import logging

import psycopg

logger = logging.getLogger("atende_logs.storage")

DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")
"""PostgreSQL settings that lose or corrupt committed data after a crash when ``off``."""

_CONSEQUENCES = {
    "fsync": "a crash of the database server can corrupt the whole database",
    "synchronous_commit": "transactions acknowledged to clients can be lost in a crash",
    "full_page_writes": "a crash in the middle of a page write can corrupt that page",
}


def postgres_settings_off(database_url: str) -> list[str]:
    """Which of ``DURABILITY_SETTINGS`` are off, as a session of ``database_url`` sees them.

    Empty for a database that is not PostgreSQL. ``synchronous_commit`` may be set per role,
    database or connection (``options=-csynchronous_commit=off`` in the URL), so it is read
    from a session opened the way the store opens its own. Raises psycopg.Error when the
    server cannot be reached.
    """
    if not database_url.startswith(("postgresql://", "postgres://")):
        return []
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        values = connection.execute(
            "SELECT " + ", ".join(f"current_setting('{name}')" for name in DURABILITY_SETTINGS)
        ).fetchone()
    assert values is not None
    # synchronous_commit also takes local, remote_write and remote_apply: all wait for the
    # local flush. Only off acknowledges before it.
    return [name for name, value in zip(DURABILITY_SETTINGS, values, strict=True) if value == "off"]


def warn_unless_durable(database_url: str) -> list[str]:
    """Log one warning per durability setting that is off; returns their names."""
    off = postgres_settings_off(database_url)
    for name in off:
        logger.warning(
            "PostgreSQL durability: %s is off, so %s; turn it on in production",
            name,
            _CONSEQUENCES[name],
        )
    return off
