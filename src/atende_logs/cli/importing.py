"""``atende-logs import``: a file of logs into the store, with progress and a summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from atende_logs.cli.options import (
    AUTO,
    JsonOption,
    KindName,
    chosen_format,
    console,
    emit_json,
    errors,
    format_choice,
    store_session,
)
from atende_logs.config import get_settings
from atende_logs.ingest import pipeline
from atende_logs.ingest.pipeline import Owner
from atende_logs.ingest.readers import READABLE
from atende_logs.kinds import KINDS, Kind
from atende_logs.models import IngestResult
from atende_logs.query.times import zone
from atende_logs.storage import Store

_FORMAT, _FORMAT_METAVAR = format_choice(READABLE)


def import_file(
    kind: Annotated[KindName, typer.Argument(help="Which kind of log the file holds.")],
    file: Annotated[
        Path, typer.Argument(help="NDJSON, a JSON array, or CSV (cards); - for stdin.")
    ],
    customer: Annotated[int, typer.Option("--customer", help="Customer id the logs belong to.")],
    dialer: Annotated[
        str | None, typer.Option("--dialer", help="Dialer token (required for cards).")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            parser=_FORMAT,
            metavar=_FORMAT_METAVAR,
            help="Input format; auto reads .csv as CSV.",
        ),
    ] = AUTO,
    parse_workers: Annotated[
        int | None,
        typer.Option(
            "--parse-workers",
            min=0,
            help="Processes parsing NDJSON while this one writes; 0 parses here. Default: "
            "one per core but one (up to 4) for files of 8 MB and more.",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Import a file of logs: idempotent, streamed in constant memory."""
    target = KINDS[kind.value]
    settings = get_settings()
    with store_session() as store:
        owner = Owner(customer, _dialer_id(store, target, customer, dialer))
        source, size = _source(file)
        with _progress(size, quiet=json) as progress:
            task = progress.add_task(f"importing {target.name}", total=size)
            result = pipeline.run(
                store,
                source,
                target,
                owner,
                zone=zone(settings.timezone),
                fmt=chosen_format(fmt),
                batch_size=settings.ingest_batch_size,
                parse_workers=parse_workers,
                on_batch=lambda _, read: progress.update(task, completed=read),
            )
    _summary(result, json)


def _dialer_id(store: Store, kind: Kind, customer: int, token: str | None) -> int | None:
    """The id of the dialer whose token was given, for a kind kept per dialer."""
    if not kind.scope.by_dialer:
        return None
    found = store.find_dialer(customer, token or "")
    if found is None:
        errors.print(f"[red]error:[/red] {kind.name} need --dialer with a token of the customer")
        raise typer.Exit(2)
    return found.id


def _source(file: Path) -> tuple[BinaryIO | Path, int | None]:
    """What to read, and its size when known."""
    if str(file) == "-":
        return sys.stdin.buffer, None
    if not file.is_file():
        errors.print(f"[red]error:[/red] no such file: {file}")
        raise typer.Exit(2)
    return file, file.stat().st_size


def _progress(size: int | None, quiet: bool) -> Progress:
    return Progress(
        *Progress.get_default_columns()[:1],
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        disable=quiet or size is None or not console.is_terminal,
        transient=True,
    )


def _summary(result: IngestResult, json: bool) -> None:
    if json:
        emit_json(result.as_dict())
        return
    console.print(f"stored {result.stored}, replaced {result.replaced}, rejected {result.rejected}")
    for rejection in result.rejections:
        console.print(f"  line {rejection.position}: {rejection.reason}", markup=False)
    if result.rejected > len(result.rejections):
        console.print(f"  … and {result.rejected - len(result.rejections)} more rejections")
