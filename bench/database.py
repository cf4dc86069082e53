"""The database under test: an SQLite file in the work directory or a PostgreSQL schema.

A state file beside it records which data set it holds and the customers' ids, so that
``--keep`` can rerun the queries on it after a code change without loading again.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from atende_logs.storage.migrate import pending, upgrade
from atende_logs.storage.sqlite import sqlite_path
from bench.common import Options, console


@dataclass(frozen=True)
class Target:
    db: str
    url: str
    """The URL the service is given (for PostgreSQL, with the bench schema selected)."""
    admin_url: str | None
    """PostgreSQL without the schema: where the schema is created and dropped."""
    schema: str | None
    state_file: Path


@dataclass(frozen=True)
class State:
    """What a loaded database holds."""

    db: str
    rows: int
    customers: dict[str, int]
    ingest: dict[str, Any]
    """The figures measured while loading, shown again by ``--keep`` runs."""


def target(options: Options) -> Target:
    options.workdir.mkdir(parents=True, exist_ok=True)
    if options.db == "sqlite":
        path = options.workdir / f"sqlite-{options.rows}.db"
        return Target("sqlite", f"sqlite:///{path}", None, None, path.with_suffix(".state.json"))
    base = options.postgres_url
    separator = "&" if "?" in base else "?"
    scoped = f"{base}{separator}options={quote(f'-csearch_path={options.schema}')}"
    state = options.workdir / f"postgresql-{options.schema}.state.json"
    return Target("postgresql", scoped, base, options.schema, state)


def reset(db: Target) -> None:
    """An empty, migrated database: the old file or schema is removed first."""
    if db.schema is None:
        path = Path(sqlite_path(db.url))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        with psycopg.connect(_admin(db), autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE')
            connection.execute(f'CREATE SCHEMA "{db.schema}"')
    db.state_file.unlink(missing_ok=True)
    upgrade(db.url)
    console.print(f"database: {db.db} reset and migrated ({_where(db)})")


def settle(db: Target) -> str:
    """Bring a freshly loaded database to its steady state; says what was done."""
    if db.schema is None:
        # What SQLite would reach on its own: the WAL folded into the file. No ANALYZE:
        # the service never runs it, so its plans must not depend on statistics.
        with sqlite3.connect(sqlite_path(db.url)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return "SQLite: PRAGMA wal_checkpoint(TRUNCATE); no ANALYZE (the service never runs it)"
    # What autovacuum reaches on its own some time after a load: statistics and a fresh
    # visibility map (index-only scans depend on it).
    with psycopg.connect(db.url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
    return f"PostgreSQL: VACUUM (ANALYZE) on schema {db.schema} after the load"


def upgrade_kept(db: Target) -> None:
    """Apply the migrations code changes brought since the load, then settle again."""
    waiting = pending(db.url)
    if waiting:
        with console.status(f"database: applying migrations {waiting}"):
            upgrade(db.url)
            settle(db)
        console.print(f"database: applied migrations {waiting}")


def save_state(db: Target, state: State) -> None:
    db.state_file.write_text(json.dumps(asdict(state), indent=2))


def load_state(db: Target, rows: int) -> State:
    """The state of a database loaded by an earlier run, for ``--keep``."""
    if not db.state_file.exists():
        raise SystemExit(f"--keep: no loaded database at {_where(db)}; run once without --keep")
    state = State(**json.loads(db.state_file.read_text()))
    if state.rows != rows:
        raise SystemExit(f"--keep: {_where(db)} holds --rows {state.rows}, not {rows}")
    return state


def _admin(db: Target) -> str:
    assert db.admin_url is not None
    return db.admin_url


def _where(db: Target) -> str:
    return sqlite_path(db.url) if db.schema is None else f"schema {db.schema}"


def size_mb(db: Target) -> float:
    """The database's size on disk, in MB."""
    if db.schema is None:
        path = Path(sqlite_path(db.url))
        return (
            sum(
                Path(f"{path}{s}").stat().st_size
                for s in ("", "-wal")
                if Path(f"{path}{s}").exists()
            )
            / 1e6
        )
    with psycopg.connect(db.url) as connection:
        row = connection.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            [db.schema],
        ).fetchone()
    return float(row[0] if row else 0) / 1e6
