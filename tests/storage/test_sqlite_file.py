"""SQLite file settings that the benchmark chose: 16 KB pages for new files, mapped reads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from atende_logs.config import Settings
from atende_logs.storage import open_store
from atende_logs.storage.migrate import upgrade
from atende_logs.storage.sqlite import PAGE_SIZE


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("PRAGMA page_size").fetchone()[0])


@pytest.mark.parametrize("first", ["migrations", "store"])
def test_a_new_file_gets_the_page_size_whoever_creates_it(tmp_path: Path, first: str) -> None:
    path = tmp_path / "new.db"
    url = f"sqlite:///{path}"
    if first == "store":
        open_store(Settings(database_url=url)).close()
    upgrade(url)
    assert PAGE_SIZE != 4096 and _page_size(path) == PAGE_SIZE


def test_an_existing_file_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA page_size = 4096")
        connection.execute("CREATE TABLE earlier (x)")
    upgrade(f"sqlite:///{path}")
    store = open_store(Settings(database_url=f"sqlite:///{path}"))
    try:
        assert store.list_customers() == []
    finally:
        store.close()
    assert _page_size(path) == 4096


def test_reads_are_memory_mapped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mapped.db'}"
    upgrade(url)
    store = open_store(Settings(database_url=url))
    try:
        with store._reading() as connection:  # type: ignore[attr-defined]
            mapped = connection.execute("PRAGMA mmap_size").fetchone()[0]
    finally:
        store.close()
    # SQLite caps the request at its build's limit; any mapping at all takes reads off pread.
    assert mapped > 0
