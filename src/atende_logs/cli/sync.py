"""``atende-logs sync``: a query's records kept exact in a table of a database, from the
change feed. A thin wrapper over ``atende_logs.sync``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from atende_logs.cli.options import JsonOption, KindName, console, emit_json, errors
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
from atende_logs.client import ClientError, LogsClient, RetryPolicy
from atende_logs.kinds import KINDS
from atende_logs.sync import Sync, open_destination
from atende_logs.sync.runner import LONG_POLL_S


def sync(
    kind: Annotated[KindName, typer.Argument(help="Which kind of log to copy.")],
    url: UrlOption,
    into: Annotated[
        str,
        typer.Option(
            "--into",
            metavar="DEST",
            help="The database: a DuckDB file (copy.duckdb), sqlite:///path or a .sqlite/.db "
            "file, or postgresql://user@host/db.",
        ),
    ],
    key: KeyOption = None,
    start_at: StartAtOption = None,
    end_at: EndAtOption = None,
    token: TokenOption = None,
    param: ParamOption = None,
    table: Annotated[
        str | None,
        typer.Option("--table", help="The table to keep (default: the kind's, e.g. cdrs)."),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="After catching up, keep running and apply each change as it commits; stop "
            "with Ctrl-C.",
        ),
    ] = False,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Drop the table and copy the feed from its start, in one transaction (after "
            "a 410 history_expired, or to change the filters).",
        ),
    ] = False,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, max=1000, help="Changes per request.")
    ] = 1000,
    retries: RetriesOption = RetryPolicy.attempts,
    timeout: Annotated[
        float, typer.Option("--timeout", min=10, help="Seconds to wait for one answer.")
    ] = 60.0,
    allow_insecure_http: InsecureHttpOption = False,
    json: JsonOption = False,
) -> None:
    """Keep a query's records exact in a table of DEST (one row per record, deletes applied,
    the cursor stored with them): rerun it (cron), or --follow."""
    params = query_params(kind, start_at, end_at, dialer_token(kind, token), param or [])
    try:
        client = LogsClient(
            url,
            api_key(key),
            allow_insecure_http=allow_insecure_http,
            retry=RetryPolicy(attempts=retries),
            timeout=timeout,
            on_retry=show_retry,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--url") from exc
    try:
        with client, open_destination(into) as destination:
            job = Sync(client, destination, KINDS[kind.value], params, table)
            wait = min(LONG_POLL_S, int(timeout) - 5)
            for _ in job.run(page_size, follow=follow, rebuild=rebuild, wait=wait):
                pass
            progress = job.progress
            rows = destination.count(job.table)
    except ValueError as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    except ClientError as exc:
        errors.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    except KeyboardInterrupt as exc:
        errors.print("interrupted: every change committed is kept; run again to go on")
        raise typer.Exit(130) from exc
    if json:
        emit_json(
            {
                "table": job.table,
                "into": into,
                "rows": rows,
                "upserts": progress.upserts,
                "deletes": progress.deletes,
                "expired": progress.expired,
            }
        )
        return
    console.print(
        f"{job.table}: {rows} records in {into} "
        f"({progress.upserts} upserted, {progress.deletes} deleted, {progress.expired} "
        "expired by retention marks, by this run)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
