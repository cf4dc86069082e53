"""``atende-logs pull``: every item of a query on a remote server into a file, resumable.

A thin wrapper over ``atende_logs.client``: options in, a progress bar and a summary out.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from atende_logs.cli.options import (
    AUTO,
    JsonOption,
    KindName,
    chosen_format,
    console,
    emit_json,
    errors,
    format_choice,
)
from atende_logs.cli.remote import (
    EndAtOption,
    InsecureHttpOption,
    KeyOption,
    ParamOption,
    RetriesOption,
    StartAtOption,
    TokenOption,
    UrlOption,
    api_key,
    dialer_token,
    query_params,
    show_retry,
)
from atende_logs.client import (
    ApiError,
    ClientError,
    LogsClient,
    Output,
    Pull,
    PullError,
    PullResult,
    RetryPolicy,
    output_for_path,
)
from atende_logs.client.follow import ChangesPull
from atende_logs.client.pull import FORMATS
from atende_logs.client.state import state_path
from atende_logs.formats import CsvFormulas, Format
from atende_logs.kinds import KINDS, Kind

_FORMAT, _FORMAT_METAVAR = format_choice(FORMATS)


class Delimiter(StrEnum):
    comma = ","
    semicolon = ";"
    tab = "tab"


class Formulas(StrEnum):
    escape = "escape"
    raw = "raw"


def pull(
    kind: Annotated[KindName, typer.Argument(help="Which kind of log to pull.")],
    url: UrlOption,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The file to write; it is replaced.")
    ],
    key: KeyOption = None,
    start_at: StartAtOption = None,
    end_at: EndAtOption = None,
    token: TokenOption = None,
    param: ParamOption = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            parser=_FORMAT,
            metavar=_FORMAT_METAVAR,
            help="auto: by the output's suffix (.csv, .parquet) else NDJSON.",
        ),
    ] = AUTO,
    delimiter: Annotated[
        Delimiter, typer.Option("--delimiter", help="CSV field delimiter.")
    ] = Delimiter.comma,
    bom: Annotated[
        bool, typer.Option("--bom", help="Start CSV with a UTF-8 BOM (for spreadsheet programs).")
    ] = False,
    csv_formulas: Annotated[
        Formulas,
        typer.Option(
            "--csv-formulas",
            help="escape: a CSV cell starting with = + - @ gets a leading ' so spreadsheets "
            "do not run it; raw: cells as the server sent them, for programs.",
        ),
    ] = Formulas.escape,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, max=1000, help="Items per request.")
    ] = 1000,
    restart: Annotated[
        bool, typer.Option("--restart", help="Discard an interrupted pull's state; start over.")
    ] = False,
    retries: RetriesOption = RetryPolicy.attempts,
    backoff: Annotated[
        float, typer.Option("--backoff", min=0, help="Seconds before the first retry, doubled.")
    ] = RetryPolicy.backoff,
    max_backoff: Annotated[
        float, typer.Option("--max-backoff", min=0, help="Longest wait between two tries.")
    ] = RetryPolicy.max_backoff,
    give_up_after: Annotated[
        float,
        typer.Option("--give-up-after", min=0, help="Seconds one request may keep failing."),
    ] = RetryPolicy.give_up_after,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for one answer.")
    ] = 60.0,
    token_in_url: Annotated[
        bool,
        typer.Option(
            "--token-in-url",
            help="Send the dialer token as the token parameter, not in the x-dialer-token "
            "header (for a server that reads only the parameter).",
        ),
    ] = False,
    allow_insecure_http: InsecureHttpOption = False,
    compress: Annotated[
        bool,
        typer.Option(
            "--compress/--no-compress",
            help="Ask for compressed answers (zstd, br or gzip, as the server offers): "
            "about 18x fewer bytes over the network for a little CPU on each side.",
        ),
    ] = True,
    changes: Annotated[
        bool,
        typer.Option(
            "--changes",
            help="Write the query's change feed instead of its items: NDJSON, one change "
            "object a line ({op, id, changed_at, item}, or a retention mark {op: expire, "
            "before, changed_at}), in commit order; a rerun appends the changes made since "
            "(docs/pull.md).",
        ),
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="With --changes: after the changes so far, keep running and append each "
            "change as it commits (the live tail); stop with Ctrl-C, resume by running again.",
        ),
    ] = False,
    json: JsonOption = False,
) -> None:
    """Pull every item of a query from a server into NDJSON, CSV or Parquet; resumable.
    With --changes (and --follow), its change feed as NDJSON instead."""
    params = query_params(kind, start_at, end_at, dialer_token(kind, token), param or [])
    if follow and not changes:
        raise typer.BadParameter(
            "--follow needs --changes: a file of items cannot show a record replaced or "
            "removed, so what follows is written as change objects (docs/pull.md)",
            param_hint="--follow",
        )
    if changes and chosen_format(fmt) not in (None, Format.NDJSON):
        raise typer.BadParameter("--changes writes NDJSON", param_hint="--format")
    out_format = _format(fmt, output, delimiter, bom, csv_formulas)
    policy = RetryPolicy(retries, backoff, max_backoff, give_up_after)
    try:
        client = LogsClient(
            url,
            api_key(key),
            token_in_url=token_in_url,
            allow_insecure_http=allow_insecure_http,
            retry=policy,
            timeout=timeout,
            on_retry=show_retry,
            compress=compress,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--url") from exc
    with client:
        if changes:
            result = _run_changes(
                client, KINDS[kind], params, output, page_size, restart, follow, json
            )
        else:
            result = _run(client, KINDS[kind], params, output, out_format, page_size, restart, json)
    _summary(result, f"changes of {kind.value}" if changes else kind.value, json)


def _run_changes(
    client: LogsClient,
    kind: Kind,
    params: dict[str, str],
    output: Path,
    page_size: int,
    restart: bool,
    follow: bool,
    quiet: bool,
) -> PullResult:
    """The change feed into ``output``, and with ``follow`` its live tail (until Ctrl-C)."""
    try:
        with ChangesPull.open(client, kind, params, output, restart=restart) as job:
            if job.resumed_from and not quiet:
                errors.print(
                    f"going on after {job.resumed_from} changes already in {output}",
                    markup=False,
                )
            with _progress(quiet) as progress:
                task = progress.add_task(f"changes of {kind.name}", completed=job.state.items)
                for state in job.run(page_size, follow=follow):
                    progress.update(task, completed=state.items)
            return PullResult(output, job.state.items, job.resumed_from, None)
    except ValueError as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    except ClientError as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}")
        if isinstance(exc, ApiError) and exc.status == 410:
            errors.print("Start the file over with --restart.")
        raise typer.Exit(1) from exc
    except KeyboardInterrupt as exc:
        errors.print("interrupted: run the same command again to go on")
        raise typer.Exit(130) from exc


def _format(
    choice: str, output: Path, delimiter: Delimiter, bom: bool, formulas: Formulas
) -> Output:
    separator = "\t" if delimiter is Delimiter.tab else delimiter.value
    cells: CsvFormulas = "raw" if formulas is Formulas.raw else "escape"
    fmt = chosen_format(choice)
    if fmt is None:
        return output_for_path(output, separator, bom, cells)
    return Output(fmt, separator, bom, cells)


def _run(
    client: LogsClient,
    kind: Kind,
    params: dict[str, str],
    output: Path,
    fmt: Output,
    page_size: int,
    restart: bool,
    quiet: bool,
) -> PullResult:
    """The pull with a progress bar; errors become a message and an exit code."""
    try:
        with Pull.open(client, kind, params, output, fmt, restart=restart) as job:
            if job.resumed_from and not quiet:
                errors.print(
                    f"resuming after {job.resumed_from} items already in {output}", markup=False
                )
            with _progress(quiet) as progress:
                task = progress.add_task(
                    f"pulling {kind.name}", total=job.state.total, completed=job.state.items
                )
                for state in job.run(page_size):
                    progress.update(task, completed=state.items, total=state.total)
                if fmt.format is Format.PARQUET:
                    progress.update(task, description="writing Parquet")
                return job.finish()
    except ValueError as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    except ClientError as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}")
        if not isinstance(exc, PullError) and state_path(output).exists():
            errors.print("The items so far are kept: run the same command again to resume.")
        raise typer.Exit(1) from exc
    except KeyboardInterrupt as exc:
        errors.print("interrupted: run the same command again to resume")
        raise typer.Exit(130) from exc


class ItemRateColumn(ProgressColumn):
    """Items per second, over rich's recent window."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        text = "? items/s" if speed is None else f"{speed:,.0f} items/s"
        return Text(text, style="progress.data.speed")


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        ItemRateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
        disable=quiet or not errors.is_terminal,
    )


def _summary(result: PullResult, kind: str, json: bool) -> None:
    if json:
        emit_json(
            {
                "output": str(result.output),
                "items": result.items,
                "resumed_from": result.resumed_from,
                "total": result.total,
            }
        )
        return
    earlier = f" ({result.resumed_from} by an earlier run)" if result.resumed_from else ""
    console.print(
        f"wrote {result.items} {kind} to {result.output}{earlier}",
        highlight=False,
        markup=False,
        soft_wrap=True,  # never break the path
    )
    if result.total is not None and result.total != result.items:
        console.print(
            f"note: the server now counts {result.total} matching items; "
            "the data changed during the pull"
        )


pull_app = typer.Typer(add_completion=False)
"""``pull`` alone, as ``atende-logs pull`` runs it (``cli.main``): the same command as the
full app's, without loading the others."""
pull_app.command()(pull)
