"""What the commands that read a server (``pull``, ``sync``) share: the query's options, the
key and token, and how a retry is shown."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape

from atende_logs.cli.options import KindName, errors
from atende_logs.client import RetryNotice
from atende_logs.client.api import TOKEN_VARIABLE
from atende_logs.kinds import KINDS

KEY_VARIABLE = "ATENDE_API_KEY"

UrlOption = Annotated[str, typer.Option("--url", help="The server's base URL (https://host).")]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar=KEY_VARIABLE,
        show_envvar=True,
        help="API key (x-api-key). Prefer the environment variable: it keeps the key "
        "out of shell history.",
    ),
]
StartAtOption = Annotated[str | None, typer.Option("--start-at", help="First time.")]
EndAtOption = Annotated[str | None, typer.Option("--end-at", help="Last time.")]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help=f"Dialer token (cards). Prefer {TOKEN_VARIABLE}: an option is visible in ps.",
    ),
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        metavar="NAME=VALUE",
        help="A filter by its API name (call_status=answered, tz=America/Manaus); repeatable.",
    ),
]
RetriesOption = Annotated[
    int, typer.Option("--retries", min=1, help="Tries per request, the first included.")
]
InsecureHttpOption = Annotated[
    bool,
    typer.Option(
        "--allow-insecure-http",
        help="Send the key over plain http:// to a host that is not this machine.",
    ),
]


def api_key(key: str | None) -> str:
    if not key:
        raise typer.BadParameter(f"give the API key with --key or in {KEY_VARIABLE}")
    return key


def dialer_token(kind: KindName, token: str | None) -> str | None:
    """The dialer token of a cards pull: ``--token``, with a warning, else the variable."""
    if token is not None:
        errors.print(
            f"warning: --token is visible to every user of this machine (ps) and stays in "
            f"your shell history; set {TOKEN_VARIABLE} instead",
            markup=False,
            highlight=False,
        )
        return token
    if KINDS[kind.value].scope.by_dialer:
        return os.environ.get(TOKEN_VARIABLE) or None
    return None


def query_params(
    kind: KindName, start_at: str | None, end_at: str | None, token: str | None, pairs: list[str]
) -> dict[str, str]:
    """The query's parameters by their API names; each may be given once."""
    named = {"start_at": start_at, "end_at": end_at, "token": token}
    params = {name: value for name, value in named.items() if value is not None}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise typer.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--param")
        if name in params:
            raise typer.BadParameter(f"{name} is given twice", param_hint="--param")
        params[name] = value
    if KINDS[kind.value].scope.by_dialer and "token" not in params:
        raise typer.BadParameter(
            f"{kind.value} need the dialer's token: set {TOKEN_VARIABLE}", param_hint="--token"
        )
    return params


def show_retry(notice: RetryNotice) -> None:
    errors.print(
        f"try {notice.attempt} failed ({escape(notice.problem)}); retrying in {notice.wait:.1f} s",
        highlight=False,
    )
