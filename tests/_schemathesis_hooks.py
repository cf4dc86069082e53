"""The rules of the search parameters that OpenAPI cannot state, told to Schemathesis
(tests/http/test_schemathesis.py runs its CLI with them: ``SCHEMATHESIS_HOOKS``).

The document gives each parameter's values exactly (``atende_logs.query.values``). What ties
one parameter to another, or to what the server handed out, it says in words, and the server
answers 400 to a request that breaks it. Schemathesis reads only the schemas, so it would
call such a request valid and the 400 a failure. This hook edits a request that Schemathesis
generated as valid into one that keeps the rules, as a client who read the descriptions would
send it, and nothing else: Schemathesis checks the edited request against the schema again
before sending it, and requests generated as invalid are left as they are.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case

from atende_logs.config import Settings
from atende_logs.errors import ParameterError
from atende_logs.http.negotiation import preferred_format
from atende_logs.normalize import ASCII_DIGITS
from atende_logs.query.changes import decode_cursor
from atende_logs.query.cursor import parse_after
from atende_logs.query.output import CSV_PARAMETERS
from atende_logs.query.stats import bar_bounds
from atende_logs.query.times import parse_instant, zone

DEFAULT_TZ = Settings.model_fields["timezone"].default


@schemathesis.hook
def before_call(ctx: Any, case: Case, kwargs: dict[str, Any]) -> None:
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if case.method.upper() != "GET" or not isinstance(case.query, dict):
        return  # the rules are those of the search operations' query parameters
    csv_options_only_with_csv(case.query, case.headers or {})
    start_at_not_after_end_at(case.query)
    stats_within_max_bars(case.path, case.query)
    after_as_handed_out(case.query)
    since_as_handed_out(case.query)
    short_waits(case.query)


def _given(value: Any, *, blank_counts: bool = True) -> bool:
    """Whether a query value counts as sent (``query.parse``: empty or blank is not sent)."""
    if not isinstance(value, str):
        return value is not None
    return bool(value.strip()) if blank_counts else value != ""


def csv_options_only_with_csv(query: dict[str, Any], headers: dict[str, Any]) -> None:
    """``delimiter``, ``bom`` and ``csv_formulas`` are for CSV only: with one of them and no
    format, ask for CSV; with another format, leave them out."""
    options = [
        name for name in CSV_PARAMETERS if _given(query.get(name), blank_counts=name != "delimiter")
    ]
    if not options:
        return
    chosen = query.get("format")
    if not _given(chosen):
        if preferred_format(headers.get("accept") or headers.get("Accept")) != "csv":
            query["format"] = "csv"
    elif str(chosen).strip().lower() != "csv":
        for name in options:
            del query[name]


def start_at_not_after_end_at(query: dict[str, Any]) -> None:
    """A range holding no millisecond gets 400 ``invalid_range``: send its bounds in order."""
    start, end = query.get("start_at"), query.get("end_at")
    if not (_given(start) and _given(end)):
        return
    try:
        tz = zone(query["tz"] if _given(query.get("tz")) else DEFAULT_TZ)
        first = parse_instant(str(start), param="start_at", end=False, tz=tz)
        last = parse_instant(str(end), param="end_at", end=True, tz=tz)
    except ParameterError:
        return  # not the rule's business: the server's 400 is Schemathesis' to judge
    if first > last:
        query["start_at"], query["end_at"] = end, start


def stats_within_max_bars(path: str, query: dict[str, Any]) -> None:
    """A stats range of more than ``MAX_BARS`` bars gets 400 naming ``interval``: ask for the
    first bar's worth of it instead (its start to itself)."""
    start, end = query.get("start_at"), query.get("end_at")
    if not path.endswith("/stats") or not (_given(start) and _given(end)):
        return
    interval = str(query.get("interval") or "").strip().lower() or "day"
    if interval not in ("hour", "day"):
        return
    try:
        tz = zone(query["tz"] if _given(query.get("tz")) else DEFAULT_TZ)
        first = parse_instant(str(start), param="start_at", end=False, tz=tz)
        last = parse_instant(str(end), param="end_at", end=True, tz=tz)
        bar_bounds(first, last, interval, tz)  # type: ignore[arg-type]
    except ParameterError as exc:
        if exc.parameter == "interval":
            query["end_at"] = start


def after_as_handed_out(query: dict[str, Any]) -> None:
    """A page's token is valid only as a page handed it out (the stateful phase follows the
    document's NextPage links with real ones), and an item named by ``id:`` or ``card:``
    only if the caller holds it: leave out any other. A number is valid on its own, and is
    never left out."""
    after = query.get("after")
    if not _given(after) or ASCII_DIGITS.fullmatch(str(after).strip()):
        return
    try:
        parse_after(str(after))
    except ParameterError:
        del query["after"]


def since_as_handed_out(query: dict[str, Any]) -> None:
    """A change feed's cursor is valid only as an answer handed it out (the stateful phase
    follows the NextChanges links with real ones): leave out any other. A time is valid on
    its own."""
    since = query.get("since")
    if not _given(since) or not str(since).strip().startswith("c."):
        return
    try:
        decode_cursor(str(since).strip())
    except ParameterError:
        del query["since"]


def short_waits(query: dict[str, Any]) -> None:
    """A change feed's ``wait`` holds a request up to a minute when nothing changes: cut to
    a second, so thousands of requests finish in the run's time (the wait itself is tested
    in tests/changes/)."""
    wait = query.get("wait")
    if _given(wait) and ASCII_DIGITS.fullmatch(str(wait).strip()):
        if int(str(wait).strip()) > 1:
            query["wait"] = "1"


@schemathesis.deserializer("text/csv", "application/x-ndjson")
def export_as_text(ctx: Any, response: Any) -> str:
    """An export is text, with no ``after`` for a NextPage link to follow."""
    return str(response.content.decode())
