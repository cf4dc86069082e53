"""Options and output helpers shared by several commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console

from atende_logs.config import get_settings
from atende_logs.errors import AtendeError
from atende_logs.storage import Store, open_store

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object instead of text, for scripts.")
]

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # never break a path or a key across lines


def check_settings() -> None:
    """Exit with one line per bad ``ATENDE_*`` variable instead of a traceback."""
    try:
        get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "ATENDE_" + "_".join(str(part) for part in error["loc"]).upper()
            errors.print(f"[red]error:[/red] {name}: {error['msg']} (got {error['input']!r})")
        raise typer.Exit(2) from exc


@contextmanager
def store_session() -> Iterator[Store]:
    """The configured store, closed afterwards; our errors become a clean exit."""
    try:
        store = open_store(get_settings())
    except AtendeError as exc:
        errors.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    try:
        yield store
    except AtendeError as exc:
        errors.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    finally:
        store.close()


def emit_json(value: Any) -> None:
    """One JSON object on standard output, nothing else."""
    typer.echo(orjson.dumps(value).decode())


def iso(ms: int | None) -> str:
    """An epoch-millisecond time for people."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
