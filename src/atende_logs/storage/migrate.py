"""Applying the versioned schema migrations (Alembic) to either database."""

from __future__ import annotations

from collections.abc import Callable
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


def pending(database_url: str) -> list[str]:
    """Revisions not yet applied, oldest first."""
    script = ScriptDirectory.from_config(_config())
    at = current(database_url)
    revisions = [rev.revision for rev in script.walk_revisions("base", "heads")]
    revisions.reverse()
    return revisions[revisions.index(at) + 1 :] if at in revisions else revisions


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
