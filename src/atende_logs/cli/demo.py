"""``atende-logs demo``: the demo customer and data set, and how to try them."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from atende_logs.cli.options import console, store_session
from atende_logs.config import get_settings
from atende_logs.ingest.demo import DEMO_CUSTOMER, prepare_demo
from atende_logs.query.times import zone


def demo(
    url: Annotated[str, typer.Option(help="Base URL the curl examples point at.")] = (
        "http://127.0.0.1:8000"
    ),
) -> None:
    """Load the demo data set into an empty database; print a fresh key, token and curls."""
    settings = get_settings()
    with store_session() as store:
        access = prepare_demo(store, zone(settings.timezone))
    if access is None:
        console.print(f"The database holds customers and no {DEMO_CUSTOMER!r}: demo skipped.")
        return
    if access.loaded:
        counts = ", ".join(f"{r.stored} {name}" for name, r in access.loaded.items())
        console.print(f"Loaded the demo data set: {counts}.")
    last_day = access.plan.start + timedelta(days=access.plan.days - 1)
    week = (last_day - timedelta(days=6)).astimezone(zone(settings.timezone)).date()
    day = last_day.astimezone(zone(settings.timezone)).date()
    header = f"-H 'x-api-key: {access.key}'"
    console.print(f"\nCustomer {access.customer.id} ({access.customer.name})")
    console.print(f"API key (new for this run):   {access.key}", markup=False, highlight=False)
    console.print(f"Dialer token (new this run):  {access.token}", markup=False, highlight=False)
    console.print("\nTry:\n", highlight=False)
    for line in (
        f"curl -s '{url}/customers/attendants/logs?start_at={week}&end_at={day}&size=5' {header}",
        f"curl -s '{url}/customers/cdrs/logs?start_at={day}&end_at={day}&size=5' {header}",
        f"curl -s '{url}/customers/dialer-queue/cards?token={access.token}&size=5' {header}",
    ):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print()
