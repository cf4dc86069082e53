"""Looking at a database behind the store's back, for tests that check what is stored."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from typing import Any

import psycopg
import sqlalchemy as sa

from atende_logs.storage.migrate import sqlalchemy_url


def raw_rows(database_url: str, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Rows read straight from the database (``?`` placeholders), bypassing the store."""
    if database_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(database_url[len("sqlite:///") :])) as connection:
            return list(connection.execute(sql, params).fetchall())
    with psycopg.connect(database_url) as connection:
        return list(connection.execute(sql.replace("?", "%s"), params).fetchall())


def raw_write(database_url: str, sql: str, params: list[Any]) -> None:
    """One statement (``?`` placeholders) committed straight to the database, bypassing
    the store: a test's way to leave a row as an older release would have."""
    if database_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(database_url[len("sqlite:///") :])) as connection:
            with connection:  # commits
                connection.execute(sql, params)
        return
    with psycopg.connect(database_url) as connection:  # commits on leaving
        connection.execute(sql.replace("?", "%s"), params)


def sqlite_files_hold(database_url: str, needle: str) -> bool:
    """Whether an SQLite database's file or its WAL holds ``needle``, read by another process.

    Reading the file from this process would be a bug of its own: closing any descriptor of
    it drops every POSIX lock this process holds there (a documented SQLite pitfall), and
    another process may then delete the WAL under our live connections.
    """
    path = database_url[len("sqlite:///") :]
    script = (
        "import pathlib, sys\n"
        "files = [pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[1] + '-wal')]\n"
        "needle = sys.argv[2].encode()\n"
        "sys.exit(0 if any(f.exists() and needle in f.read_bytes() for f in files) else 1)\n"
    )
    return subprocess.run([sys.executable, "-c", script, path, needle]).returncode == 0


def sqlite_dump(database_url: str) -> bytes:
    """An SQLite database's ``iterdump()`` followed by the raw bytes of its file and WAL,
    read by another process for the reason ``sqlite_files_hold`` gives."""
    path = database_url[len("sqlite:///") :]
    script = (
        "import pathlib, sqlite3, sys\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "connection = sqlite3.connect(path)\n"
        "sys.stdout.buffer.write('\\n'.join(connection.iterdump()).encode())\n"
        "connection.close()\n"
        "for f in (path, pathlib.Path(sys.argv[1] + '-wal')):\n"
        "    if f.exists():\n"
        "        sys.stdout.buffer.write(f.read_bytes())\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script, path], check=True, capture_output=True
    ).stdout


def stamp(database_url: str, revision: str) -> None:
    """Record ``revision`` as the database's, as a release that has it would migrate it."""
    engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE alembic_version SET version_num = :v"), {"v": revision}
            )
    finally:
        engine.dispose()
