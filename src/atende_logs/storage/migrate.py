"""Applying the versioned schema migrations (Alembic) to either database."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from atende_logs.storage.sqlite import set_page_size

_MIGRATIONS = Path(__file__).with_name("migrations")


def sqlalchemy_url(database_url: str) -> str:
    """Our database URL in SQLAlchemy's spelling (it wants the driver named)."""
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply every migration up to ``revision``; each runs in its own transaction."""
    _run(database_url, lambda config: command.upgrade(config, revision))


def downgrade(database_url: str, revision: str) -> None:
    """Undo migrations down to ``revision`` ("base" undoes them all)."""
    _run(database_url, lambda config: command.downgrade(config, revision))


def current(database_url: str) -> str | None:
    """The revision the database is at, or None when no migration was ever applied."""
    engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


@cache
def revisions() -> tuple[str, ...]:
    """The revisions this release ships, oldest first: the last is its head."""
    script = ScriptDirectory.from_config(_config())
    return tuple(reversed([rev.revision for rev in script.walk_revisions("base", "heads")]))


def pending_after(revision: str | None) -> list[str]:
    """This release's revisions a database at ``revision`` (None: unmigrated) still lacks.

    A revision this release does not know was written by a newer one, which migrated first
    during a rolling deploy: nothing is pending, and the older code keeps working on that
    schema because every migration is additive (docs/cli.md).
    """
    known = revisions()
    if revision is None:
        return list(known)
    if revision not in known:
        return []
    return list(known[known.index(revision) + 1 :])


def pending(database_url: str) -> list[str]:
    """Revisions of this release not yet applied to the database, oldest first."""
    return pending_after(current(database_url))


def is_ahead(revision: str | None) -> bool:
    """Whether ``revision`` comes from a release newer than this one."""
    return revision is not None and revision not in revisions()


def _run(database_url: str, action: Callable[[Config], None]) -> None:
    engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.NullPool)
    if engine.dialect.name == "sqlite":
        # The first migration creates the file: it must get the store's page size.
        sa.event.listen(
            engine, "connect", lambda dbapi_connection, _: set_page_size(dbapi_connection)
        )
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            action(config)
    finally:
        engine.dispose()
