"""``atende-logs import``: a file of logs into the store, with progress and a summary."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from atende_logs.cli.options import JsonOption, console, emit_json, errors, store_session
from atende_logs.config import get_settings
from atende_logs.ingest.batch import ingest
from atende_logs.ingest.readers import Format, read_records
from atende_logs.kinds import KINDS
from atende_logs.models import IngestResult
from atende_logs.query.times import zone

ANALYZE_AFTER = 10_000
"""An import that wrote this many documents refreshes the table's planner statistics."""


class KindName(StrEnum):
    attendant_logs = "attendant-logs"
    cdrs = "cdrs"
    cards = "cards"


class FormatName(StrEnum):
    auto = "auto"
    ndjson = "ndjson"
    json = "json"
    csv = "csv"


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
        FormatName, typer.Option("--format", help="Input format; auto reads .csv as CSV.")
    ] = FormatName.auto,
    json: JsonOption = False,
) -> None:
    """Import a file of logs: idempotent, streamed in constant memory."""
    target = KINDS[kind.value]
    settings = get_settings()
    with store_session() as store:
        dialer_id = None
        if target.has_dialer:
            found = store.find_dialer(customer, dialer or "")
            if found is None:
                errors.print("[red]error:[/red] cards need --dialer with a token of the customer")
                raise typer.Exit(2)
            dialer_id = found.id
        stream, size = _open(file)
        with stream, _progress(size, quiet=json) as progress:
            task = progress.add_task(f"importing {kind.value}", total=size)
            result = ingest(
                store,
                customer,
                target,
                read_records(stream, _format(file, fmt)),
                zone=zone(settings.timezone),
                dialer_id=dialer_id,
                batch_size=settings.ingest_batch_size,
                on_batch=lambda _: progress.update(task, completed=_tell(stream)),
            )
            if result.stored + result.replaced >= ANALYZE_AFTER:
                store.refresh_statistics(target)
    _summary(result, json)


def _open(file: Path) -> tuple[BinaryIO, int | None]:
    if str(file) == "-":
        return sys.stdin.buffer, None
    if not file.is_file():
        errors.print(f"[red]error:[/red] no such file: {file}")
        raise typer.Exit(2)
    return file.open("rb"), file.stat().st_size


def _format(file: Path, fmt: FormatName) -> Format:
    if fmt is FormatName.auto and file.suffix.lower() == ".csv":
        return "csv"
    return fmt.value


def _tell(stream: BinaryIO) -> int:
    try:
        return stream.tell()
    except OSError:
        return 0


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
