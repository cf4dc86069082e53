"""``atende-logs demo``: the demo customer and data set, and how to try them."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from atende_logs.cli.options import JsonOption, console, emit_json, errors, store_session
from atende_logs.config import get_settings
from atende_logs.ingest.demo_loading import DEMO_CUSTOMER, DemoAccess, prepare_demo
from atende_logs.query.times import zone


def demo(
    url: Annotated[str, typer.Option(help="Base URL the curl examples point at.")] = (
        "http://127.0.0.1:8000"
    ),
    json: JsonOption = False,
) -> None:
    """Load the demo data set into an empty database; print a fresh key, token and curls."""
    settings = get_settings()
    with store_session() as store:
        access = prepare_demo(store, zone(settings.timezone))
    if access is None:
        skipped = f"The database holds customers and no {DEMO_CUSTOMER!r}: demo skipped."
        (errors if json else console).print(skipped)
        if json:
            emit_json(None)
        return
    last_day = access.plan.start + timedelta(days=access.plan.days - 1)
    week = (last_day - timedelta(days=6)).astimezone(zone(settings.timezone)).date()
    day = last_day.astimezone(zone(settings.timezone)).date()
    examples = [
        f"{url}/customers/attendants/logs?start_at={week}&end_at={day}&size=5",
        f"{url}/customers/cdrs/logs?start_at={day}&end_at={day}&size=5",
        f"{url}/customers/dialer-queue/cards?token={access.token}&size=5",
    ]
    if json:
        emit_json(
            {
                "customer": {"id": access.customer.id, "name": access.customer.name},
                "key": access.key,
                "token": access.token,
                "loaded": {name: r.stored for name, r in (access.loaded or {}).items()},
                "examples": examples,
            }
        )
    else:
        _print_text(access, examples, url)


def _print_text(access: DemoAccess, examples: list[str], url: str) -> None:
    if access.loaded:
        counts = ", ".join(f"{r.stored} {name}" for name, r in access.loaded.items())
        console.print(f"Loaded the demo data set: {counts}.")
    header = f"-H 'x-api-key: {access.key}'"
    console.print(f"\nCustomer {access.customer.id} ({access.customer.name})")
    console.print(f"API key (new for this run):   {access.key}", markup=False, highlight=False)
    console.print(f"Dialer token (new this run):  {access.token}", markup=False, highlight=False)
    console.print("\nTry:\n", highlight=False)
    for example in examples:
        curl = f"curl -s --compressed '{example}' {header}"
        console.print(curl, markup=False, highlight=False, soft_wrap=True)
    console.print(f"\nOr in the browser: {url}/console (paste the API key there)", highlight=False)
    console.print()
