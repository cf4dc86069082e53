"""LGPD commands: ``purge`` past retention, ``erase`` a phone number, set a retention."""

from __future__ import annotations

import getpass
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from atende_logs.cli.options import JsonOption, console, emit_json, errors, iso, store_session
from atende_logs.config import get_settings
from atende_logs.errors import ParameterError
from atende_logs.kinds import KINDS
from atende_logs.models import Erasure
from atende_logs.redaction import erasure_key
from atende_logs.retention import DEFAULT_BATCH_SIZE
from atende_logs.retention import purge as purge_past_retention


def purge(
    customer: Annotated[
        int | None, typer.Option("--customer", help="Only this customer. Default: every one.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=10_000, help="Documents deleted per transaction."),
    ] = DEFAULT_BATCH_SIZE,
    json: JsonOption = False,
) -> None:
    """Delete logs older than their customer's retention, in short batches."""
    with store_session() as store:
        done = purge_past_retention(
            store,
            default_days=get_settings().retention_days,
            customer_id=customer,
            batch_size=batch_size,
            dry_run=dry_run,
        )
    if json:
        emit_json({"dry_run": dry_run, "purged": [asdict(item) for item in done]})
        return
    table = Table(
        "customer",
        "kind",
        "retention (days)",
        "older than",
        "would delete" if dry_run else "deleted",
    )
    for item in done:
        table.add_row(
            str(item.customer_id),
            item.kind,
            str(item.retention_days),
            iso(item.before_ms),
            str(item.deleted),
        )
    console.print(table)


def erase(
    customer: Annotated[int, typer.Option("--customer", help="Customer whose logs hold it.")],
    phone: Annotated[
        str, typer.Option("--phone", help="The number, in any spelling: +55 (11) 98765-4321.")
    ],
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who asked (a name, a ticket); recorded in the audit."),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Erase one person's phone number from a customer's logs; the erasure is audited."""
    try:
        erasure_key(phone)
    except ParameterError as exc:
        errors.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    with store_session() as store:
        erasure = store.erase_phone(customer, phone, by or getpass.getuser())
    if json:
        emit_json(_as_json(erasure))
        return
    done: dict[str, list[str]] = {"redact": [], "delete": []}
    for name, count in erasure.counts.items():
        kind = KINDS[name]
        done[kind.erasure].append(f"{count} {kind.label}(s)")
    said = [f"taken out of {' and '.join(done['redact'])}"] if done["redact"] else []
    said += [f"{' and '.join(done['delete'])} deleted"] if done["delete"] else []
    console.print(
        f"erasure {erasure.id}: number ending {erasure.phone_last_digits} {'; '.join(said)}"
    )


def _as_json(erasure: Erasure) -> dict[str, Any]:
    """An erasure as the audit showed it before its counts moved out of ``erasures``
    (migration 0012): one field per kind, named as the kind with underscores."""
    fields = asdict(erasure)
    counts = fields.pop("counts")
    return fields | {name.replace("-", "_"): count for name, count in counts.items()}


def erasures(customer_id: int, json: JsonOption = False) -> None:
    """List a customer's audited erasures (last digits of each number only)."""
    with store_session() as store:
        audited = store.list_erasures(customer_id)
    if json:
        emit_json([_as_json(erasure) for erasure in audited])
        return
    names = list(dict.fromkeys(name for item in audited for name in item.counts)) or list(KINDS)
    table = Table("id", "when", "requested by", "ends in", *(n.replace("-", " ") for n in names))
    for item in audited:
        table.add_row(
            str(item.id),
            iso(item.erased_at_ms),
            item.requested_by,
            item.phone_last_digits,
            *(str(item.counts.get(name, 0)) for name in names),
        )
    console.print(table)


def retention(
    customer_id: int,
    days: Annotated[
        int | None,
        typer.Argument(min=1, help="Days to keep its logs; leave out to use the default."),
    ] = None,
) -> None:
    """Set how many days a customer's logs are kept; without DAYS, back to the default."""
    with store_session() as store:
        store.set_retention(customer_id, days)
    if days is None:
        console.print(
            f"customer {customer_id} keeps logs {get_settings().retention_days} days "
            "(ATENDE_RETENTION_DAYS)"
        )
    else:
        console.print(f"customer {customer_id} keeps logs {days} days")
