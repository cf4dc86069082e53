"""Options and output helpers shared by several commands."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console

from atende_logs.errors import AtendeError
from atende_logs.formats import Format
from atende_logs.kinds import KINDS

if TYPE_CHECKING:
    from atende_logs.storage import Store

# The settings (pydantic-settings) and the storage are imported by the functions that use
# them: `pull`, a client, imports this module and needs neither, and its start-up is in
# every pull's time (docs/benchmarks.md, "Over a real link").

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object instead of text, for scripts.")
]

# Made from KINDS, so that every kind is a choice of `import`, `pull` and `ingest-keys create
# --kind`. mypy cannot list the members of an enum made so (hence the ignore): code reads the
# kind's own fields (`KINDS[name.value]`), never a member by name.
KindName = StrEnum("KindName", [(name, name) for name in KINDS])  # type: ignore[misc]
"""A kind's name on the command line."""

AUTO = "auto"
"""``--format``'s default: not a format but its absence (``None``), "tell it from the file"."""


def format_choice(formats: Iterable[Format]) -> tuple[Callable[[str], str], str]:
    """A ``--format`` option's parser and metavar: ``auto`` or the name of one of
    ``formats``, the ones the command reads or writes."""
    choices = (AUTO, *(fmt.value for fmt in formats))

    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(map(repr, choices))}.")
        return text

    return parse, f"<{'|'.join(choices)}>"


def chosen_format(choice: str) -> Format | None:
    """The format a ``--format`` value names; None for ``auto``."""
    return None if choice == AUTO else Format(choice)


console = Console()
errors = Console(stderr=True, soft_wrap=True)  # never break a path or a key across lines


def check_settings() -> None:
    """Exit with one line per bad ``ATENDE_*`` variable instead of a traceback."""
    from pydantic import ValidationError

    from atende_logs.config import get_settings

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
    from atende_logs.config import get_settings
    from atende_logs.storage import open_store

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
