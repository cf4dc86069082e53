"""``atende-logs``: each command is a thin wrapper over storage or ingest functions."""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from atende_logs.cli import demo as demo_command
from atende_logs.cli import lgpd as lgpd_commands
from atende_logs.cli.consume import consume
from atende_logs.cli.importing import import_file
from atende_logs.cli.options import (
    JsonOption,
    KindName,
    check_settings,
    console,
    emit_json,
    errors,
    iso,
    store_session,
)
from atende_logs.cli.pull import pull
from atende_logs.cli.sync import sync
from atende_logs.config import get_settings
from atende_logs.models import IngestScope, KeyInfo

if TYPE_CHECKING:  # the storage modules load only when a command needs them
    from atende_logs.storage import Store

app = typer.Typer(
    help="Customer logs API of Atende Simples.", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
customers_app = typer.Typer(help="Customers (tenants).", no_args_is_help=True)
keys_app = typer.Typer(help="Customer API keys (x-api-key).", no_args_is_help=True)
dialers_app = typer.Typer(help="Outbound dialers and their tokens.", no_args_is_help=True)
ingest_keys_app = typer.Typer(help="Keys of the platform's log producers.", no_args_is_help=True)


@app.callback()
def _settings_first(ctx: typer.Context) -> None:
    # The server's commands read the settings; a bad ATENDE_* variable is named before any
    # work. `pull` is a client and reads none (cli.main() runs it without this app).
    if ctx.invoked_subcommand != "pull":
        check_settings()


app.add_typer(db_app, name="db")
app.add_typer(customers_app, name="customers")
app.add_typer(keys_app, name="keys")
app.add_typer(dialers_app, name="dialers")
app.add_typer(ingest_keys_app, name="ingest-keys")
app.command("import")(import_file)
app.command("demo")(demo_command.demo)
app.command("pull")(pull)
app.command("consume")(consume)
app.command("sync")(sync)
app.command("purge")(lgpd_commands.purge)
app.command("erase")(lgpd_commands.erase)
app.command("erasures")(lgpd_commands.erasures)
customers_app.command("retention")(lgpd_commands.retention)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending schema migration."""
    from atende_logs.storage import migrate  # Alembic is slow to import; only db needs it

    url = get_settings().database_url
    at = migrate.current(url)
    if migrate.is_ahead(at):
        # A newer release migrated first (a rollout, or a rollback of the code): Alembic
        # cannot place a revision it does not know, and there is nothing of ours to apply.
        console.print(f"the database is at {at}, newer than this release: nothing to apply")
        return
    waiting = migrate.pending_after(at)
    migrate.upgrade(url)
    console.print(f"applied {len(waiting)} migration(s); at {migrate.current(url)}")
    if url.startswith(("postgresql://", "postgres://")):
        with store_session() as store:
            _partition_upkeep(store)


@db_app.command("partitions")
def db_partitions() -> None:
    """Create the time partitions the log tables lack and list them (PostgreSQL).

    The server does this at start and every 6 hours; run it after changing
    ATENDE_PARTITION_MONTHS or to see where the data lies (docs/partitions.md)."""
    with store_session() as store:
        if store.backend != "postgresql":
            console.print("SQLite has no partitions: nothing to do")
            return
        _partition_upkeep(store, listing=True)


def _partition_upkeep(store: Store, listing: bool = False) -> None:
    from datetime import UTC, datetime

    from atende_logs.kinds import KINDS

    def day(ms: int | None) -> str:
        return "…" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()

    made = store.maintain_partitions()
    console.print(f"partitions created: {', '.join(made) if made else 'none needed'}")
    if listing:
        table = Table("kind", "partition", "from (UTC)", "to (UTC)")
        for kind in KINDS.values():
            for partition in store.list_partitions(kind):
                table.add_row(
                    kind.name, partition.name, day(partition.start_ms), day(partition.end_ms)
                )
        console.print(table)


@db_app.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    from atende_logs.storage import migrate

    console.print(migrate.current(get_settings().database_url) or "no migration applied")


@db_app.command("pending")
def db_pending() -> None:
    """List migrations not yet applied; exits 1 when there are any."""
    from atende_logs.storage import migrate

    waiting = migrate.pending(get_settings().database_url)
    for revision in waiting:
        console.print(revision)
    raise typer.Exit(1 if waiting else 0)


@customers_app.command("create")
def customers_create(name: str, json: JsonOption = False) -> None:
    """Create a customer."""
    with store_session() as store:
        customer = store.create_customer(name)
    if json:
        emit_json({"id": customer.id, "name": customer.name})
    else:
        console.print(f"customer {customer.id} created: {customer.name}")


@customers_app.command("list")
def customers_list(json: JsonOption = False) -> None:
    """List customers."""
    with store_session() as store:
        customers = store.list_customers()
    if json:
        emit_json([asdict(customer) for customer in customers])
        return
    table = Table("id", "name", "created")
    for customer in customers:
        table.add_row(str(customer.id), customer.name, iso(customer.created_at_ms))
    console.print(table)


def _print_new_secret(key: KeyInfo, secret: str, json: bool, what: str) -> None:
    if json:
        emit_json({"id": key.id, "key": secret})
    else:
        console.print(f"{what} {key.id} created. It is shown this once; store it now:")
        console.print(secret, markup=False, highlight=False)


def _print_keys(keys: list[KeyInfo], owner: str, json: bool) -> None:
    if json:
        emit_json(
            [{owner if k == "owner" else k: v for k, v in asdict(key).items()} for key in keys]
        )
        return
    table = Table("id", owner, "prefix", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            str(key.id),
            str(key.owner),
            key.prefix + "…",
            iso(key.created_at_ms),
            iso(key.last_used_at_ms),
            iso(key.revoked_at_ms),
        )
    console.print(table)


@keys_app.command("create")
def keys_create(customer_id: int, json: JsonOption = False) -> None:
    """Create an API key for a customer; the key is printed once and stored as a hash."""
    with store_session() as store:
        key, secret = store.create_api_key(customer_id)
    _print_new_secret(key, secret, json, "key")


@keys_app.command("list")
def keys_list(customer_id: int, json: JsonOption = False) -> None:
    """List a customer's keys: prefix, creation, last use (to a minute), revocation."""
    with store_session() as store:
        _print_keys(store.list_api_keys(customer_id), "customer_id", json)


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke a key; requests with it fail from now on."""
    with store_session() as store:
        revoked = store.revoke_api_key(key_id)
    console.print(f"key {key_id} revoked" if revoked else f"key {key_id}: no live key")
    raise typer.Exit(0 if revoked else 1)


@ingest_keys_app.command("create")
def ingest_keys_create(
    name: str,
    customer: Annotated[
        list[int] | None,
        typer.Option("--customer", metavar="ID", help="A customer it may write to; repeatable."),
    ] = None,
    all_customers: Annotated[
        bool, typer.Option("--all-customers", help="It may write to every customer.")
    ] = False,
    kind: Annotated[
        list[KindName] | None,
        typer.Option("--kind", help="A kind it may write; repeatable. Default: every kind."),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Create a producer's key for the HTTP ingest endpoints, scoped to customers and kinds.

    It may write to the customers given with --customer, or to all with --all-customers
    (one of the two is required), and only the kinds given with --kind (default: all). It
    cannot read logs.
    """
    scope = IngestScope(
        customers=_customers_scope(customer or [], all_customers),
        kinds=frozenset(k.value for k in kind) if kind else None,
    )
    with store_session() as store:
        key, secret = store.create_ingest_key(name, scope)
    if json:
        emit_json({"id": key.id, "key": secret, **_scope_json(scope)})
        return
    console.print(
        f"ingest key {key.id} created for {_scope_text(scope)}. "
        "It is shown this once; store it now:",
        markup=False,
        highlight=False,
    )
    console.print(secret, markup=False, highlight=False)


def _customers_scope(customers: list[int], all_customers: bool) -> frozenset[int] | None:
    """The customers of a new ingest key, which its creator must choose: a key for every
    customer is a deliberate choice, never a default."""
    if all_customers and customers:
        raise typer.BadParameter("give --customer or --all-customers, not both")
    if all_customers:
        return None
    if not customers:
        raise typer.BadParameter(
            "choose what the key may write: --customer ID (repeatable) or --all-customers",
            param_hint="--customer",
        )
    return frozenset(customers)


def _scope_json(scope: IngestScope) -> dict[str, Any]:
    """``customers`` and ``kinds``: sorted lists, or ``"all"``."""
    return {
        "customers": "all" if scope.customers is None else sorted(scope.customers),
        "kinds": "all" if scope.kinds is None else sorted(scope.kinds),
    }


def _scope_text(scope: IngestScope) -> str:
    customers, kinds = _scope_cells(scope)
    who = "every customer" if scope.customers is None else f"customers {customers}"
    return f"{who}; {'every kind' if scope.kinds is None else kinds}"


def _scope_cells(scope: IngestScope) -> tuple[str, str]:
    """The scope's customers and kinds for people: ``all`` or a comma-separated list."""
    customers, kinds = scope.customers, scope.kinds
    return (
        "all" if customers is None else ", ".join(str(c) for c in sorted(customers)),
        "all" if kinds is None else ", ".join(sorted(kinds)),
    )


@ingest_keys_app.command("list")
def ingest_keys_list(json: JsonOption = False) -> None:
    """List ingest keys: scope, prefix, creation, last use (to a minute), revocation."""
    with store_session() as store:
        keys = store.list_ingest_keys()
    if json:
        emit_json(
            [
                {"id": key.id, "name": key.owner}
                | {k: v for k, v in asdict(key).items() if k not in ("owner", "scope")}
                | _scope_json(key.scope)
                for key in keys
            ]
        )
        return
    table = Table("id", "name", "customers", "kinds", "prefix", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            str(key.id),
            str(key.owner),
            *_scope_cells(key.scope),
            key.prefix + "…",
            iso(key.created_at_ms),
            iso(key.last_used_at_ms),
            iso(key.revoked_at_ms),
        )
    console.print(table)


@ingest_keys_app.command("revoke")
def ingest_keys_revoke(key_id: int) -> None:
    """Revoke an ingest key."""
    with store_session() as store:
        revoked = store.revoke_ingest_key(key_id)
    console.print(f"ingest key {key_id} revoked" if revoked else f"{key_id}: no live key")
    raise typer.Exit(0 if revoked else 1)


@dialers_app.command("create")
def dialers_create(customer_id: int, name: str, json: JsonOption = False) -> None:
    """Create a dialer; its token is printed once and stored as a hash."""
    with store_session() as store:
        dialer, token = store.create_dialer(customer_id, name)
    if json:
        emit_json({"id": dialer.id, "token": token})
    else:
        console.print(f"dialer {dialer.id} created. Its token is shown this once:")
        console.print(token, markup=False, highlight=False)


@dialers_app.command("list")
def dialers_list(customer_id: int, json: JsonOption = False) -> None:
    """List a customer's dialers (token prefixes only)."""
    with store_session() as store:
        dialers = store.list_dialers(customer_id)
    if json:
        emit_json([asdict(dialer) for dialer in dialers])
        return
    table = Table("id", "name", "token prefix", "created")
    for dialer in dialers:
        table.add_row(
            str(dialer.id), dialer.name, dialer.token_prefix + "…", iso(dialer.created_at_ms)
        )
    console.print(table)


@dialers_app.command("rotate-token")
def dialers_rotate(customer_id: int, dialer_id: int, json: JsonOption = False) -> None:
    """Give a dialer a new token; the old one stops working at once."""
    with store_session() as store:
        token = store.rotate_dialer_token(customer_id, dialer_id)
    if json:
        emit_json({"id": dialer_id, "token": token})
    else:
        console.print(token, markup=False, highlight=False)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(help="Server processes. Default: one per core (the benchmark's best).", min=1),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Proxies whose X-Forwarded-For names the real client: addresses or networks, "
            "comma-separated; '*' for any, '' for none. Default: ATENDE_FORWARDED_ALLOW_IPS "
            "(loopback)."
        ),
    ] = None,
    root_path: Annotated[
        str,
        typer.Option(help="URL prefix a proxy serves the API under (e.g. /api), as uvicorn's."),
    ] = "",
) -> None:
    """Serve the API."""
    import uvicorn

    from atende_logs.storage import migrate

    # Checked here as well as at each worker's start-up: a worker that fails to start
    # leaves uvicorn's supervisor exiting 0 after one traceback per worker.
    waiting = migrate.pending(get_settings().database_url)
    if waiting:
        errors.print(
            f"[red]error:[/red] the database has pending migrations {waiting}: "
            "run `atende-logs db upgrade`"
        )
        raise typer.Exit(1)
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1

    # Our own access log masks tokens and personal data; uvicorn's would print them. The
    # logging set-up goes through uvicorn so that every worker process gets it.
    # One process counts in its own memory; several share their counts through files.
    # uvicorn's proxy headers are off: the app applies ATENDE_FORWARDED_ALLOW_IPS itself.
    with _told_to_app(host, forwarded_allow_ips):
        with _metrics_directory() if workers > 1 else nullcontext():
            uvicorn.run(
                "atende_logs.http.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_config=_log_config(),
                access_log=False,
                proxy_headers=False,
                root_path=root_path,
            )


@contextmanager
def _told_to_app(host: str, forwarded_allow_ips: str | None) -> Iterator[None]:
    """Hand the app what only ``serve`` knows, through the environment every worker
    inherits: the address it listens on (``/metrics`` goes without a token on loopback
    alone) and, when given, the trusted proxies."""
    told = {"ATENDE_LISTEN_HOST": host}
    if forwarded_allow_ips is not None:
        told["ATENDE_FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
    saved = {name: os.environ.get(name) for name in told}
    os.environ.update(told)
    get_settings.cache_clear()  # a single worker runs in this process, settings read already
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


@contextmanager
def _metrics_directory() -> Iterator[None]:
    """A fresh private directory in which the workers keep their metrics, removed at exit.

    /metrics must add up every worker's counts: prometheus_client's multiprocess mode, which
    each worker enters when it imports prometheus_client with this variable set (hence set
    here, before any worker starts). Fresh at every start, so no count of an earlier run
    leaks in; private (mode 0700), because a worker trusts what the files hold. Only with
    several workers: uvicorn's supervisor returns after stopping them, but a single
    in-process server re-raises SIGTERM once it has stopped, which would leave this behind.
    """
    with tempfile.TemporaryDirectory(prefix="atende-metrics-") as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["line"] = {"format": "%(message)s"}
    config["handlers"]["lines"] = {
        "class": "logging.StreamHandler",
        "formatter": "line",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["atende_logs"] = {"handlers": ["lines"], "level": "INFO", "propagate": False}
    config["loggers"]["alembic"] = {"level": "WARNING"}
    return config
