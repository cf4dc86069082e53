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
from atende_logs.ingest.batch import batched, prepare, store_batches
from atende_logs.ingest.parallel import batches_in_workers, default_workers
from atende_logs.ingest.readers import Format, detect_format, read_records
from atende_logs.kinds import KINDS
from atende_logs.models import IngestResult
from atende_logs.query.times import zone

PARALLEL_FROM_BYTES = 8 << 20
"""NDJSON files this large are parsed in worker processes by default. Starting one cost
about half a second when this was set; since the console script stopped loading the whole
CLI in each of them it costs about 0.17 s, so smaller files might gain too (not measured)."""
_SNIFF_BYTES = 64 << 10

ANALYZE_AFTER = 10_000
"""An import that stored this many new documents refreshes the table's planner statistics.

Documents it replaced do not count: they add no customer and no range the planner has
not seen, and ANALYZE of a 300,000-row table cost 0.4-0.5 s, a fifth of a re-import of
30,000 documents."""


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
            fmt_read = _format(file, fmt)
            workers = _parse_workers(parse_workers, stream, size, fmt_read)
            tz = zone(settings.timezone)
            batch_size, encode = settings.ingest_batch_size, store.encode_rows
            items = (
                batches_in_workers(
                    stream,
                    target,
                    tz,
                    dialer_id,
                    workers=workers,
                    batch_size=batch_size,
                    encode=encode,
                )
                if workers
                else batched(
                    target,
                    prepare(target, read_records(stream, fmt_read), tz, dialer_id),
                    batch_size,
                    encode,
                )
            )
            result = store_batches(
                store,
                customer,
                target,
                items,
                dialer_id=dialer_id,
                on_batch=lambda _: progress.update(task, completed=_tell(stream)),
            )
            if result.stored >= ANALYZE_AFTER:
                store.refresh_statistics(target)
    _summary(result, json)


def _open(file: Path) -> tuple[BinaryIO, int | None]:
    if str(file) == "-":
        return sys.stdin.buffer, None
    if not file.is_file():
        errors.print(f"[red]error:[/red] no such file: {file}")
        raise typer.Exit(2)
    return file.open("rb"), file.stat().st_size


def _parse_workers(asked: int | None, stream: BinaryIO, size: int | None, fmt: Format) -> int:
    """How many processes parse the file: none for CSV, JSON arrays and stdin (their
    readers are sequential), nor, unless asked, for files too small to repay starting them."""
    if asked == 0 or fmt in ("csv", "json") or not stream.seekable():
        return 0
    if fmt == "auto":
        head = stream.read(_SNIFF_BYTES)
        stream.seek(0)
        if not head.strip() or detect_format(head) != "ndjson":
            return 0
    if asked is not None:
        return asked
    return default_workers() if (size or 0) >= PARALLEL_FROM_BYTES else 0


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
