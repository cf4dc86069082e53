"""A stats request (issue 20) into a ``StatsQuery``, and the store's counts into its bars.

A bar is an hour or a day of the request's zone: the bars of a day are laid on the zone's
calendar, so a day the clocks change is 23 or 25 hours long, and a zone of half hours
(Asia/Kolkata) has its hours on the half hour. The store counts the records of a group of
``quantum_ms`` (the greatest length that divides every bar's bounds: an hour in most zones,
less in a few) and the bars add those groups up: one GROUP BY, whatever the zone.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from atende_logs.errors import ParameterError
from atende_logs.kinds import Kind
from atende_logs.models import StatsQuery, StatsRow
from atende_logs.normalize import epoch_ms
from atende_logs.query.parse import _search_query, _single_values, accepted_parameters
from atende_logs.query.times import zone

Interval = Literal["hour", "day"]
STATS_PARAMETERS: dict[str, str] = {
    "interval": "Tamanho de cada barra: hour (uma hora) ou day (um dia) do fuso tz; padrão day",
    "split": "Campo cujos valores dividem cada barra",
}
MAX_BARS = 1000
"""A month of hours (744) fits; a request for more bars than a chart can show is refused."""
HOUR_MS = 3_600_000
NO_VALUE = ""
"""The key of records without a value of the split field (no filter can select those)."""


@dataclass(frozen=True)
class Bar:
    """One bar: where it starts (epoch ms), its total and, when split, its count per value."""

    start_ms: int
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def accepted_stats_parameters(kind: Kind) -> list[str]:
    """Every parameter of ``kind``'s stats, in documentation order: the listing's but the
    page's own (``after``, ``size``), then ``interval`` and ``split``."""
    listing = [name for name in accepted_parameters(kind) if name not in ("after", "size")]
    return listing + list(STATS_PARAMETERS)


def parse_stats(
    kind: Kind,
    pairs: Iterable[tuple[str, str]],
    *,
    customer_id: int,
    default_tz: str,
    token_header: str | None = None,
) -> tuple[StatsQuery, ZoneInfo]:
    """Validate a stats request of ``kind`` for ``customer_id``: the query and the zone its
    bars are laid in.

    Raises ParameterError naming the first parameter that is unknown, repeated, missing or
    malformed, or ``interval`` when the range holds more than ``MAX_BARS`` bars.
    """
    params = _single_values(accepted_stats_parameters(kind), pairs)
    interval = _interval(params.pop("interval", "day"))
    split_name = params.pop("split", None)
    split = None
    if split_name is not None:
        split_name = split_name.strip()
        if split_name not in kind.splits:
            raise ParameterError(
                "split", f"split deve ser um de: {', '.join(kind.splits)}: {split_name!r}"
            )
        split = kind.filter(split_name)
    for bound in ("start_at", "end_at"):
        if bound not in params:
            raise ParameterError(bound, f"{bound} é obrigatório", code="missing_parameter")
    tz = zone(params.get("tz", default_tz))
    listing = _search_query(kind, params, customer_id, default_tz, token_header)
    assert listing.start_ms is not None and listing.end_ms is not None
    bounds = bar_bounds(listing.start_ms, listing.end_ms, interval, tz)
    quantum = math.gcd(HOUR_MS, *bounds)
    return StatsQuery(listing, bounds, quantum, interval, split), tz


def _interval(raw: str) -> Interval:
    text = raw.strip().lower()
    if text == "hour":
        return "hour"
    if text == "day":
        return "day"
    raise ParameterError("interval", f"interval deve ser hour ou day: {raw!r}")


def bar_bounds(start_ms: int, end_ms: int, interval: Interval, tz: ZoneInfo) -> tuple[int, ...]:
    """The start of each bar from the one holding ``start_ms`` to the one holding
    ``end_ms``, then the end of the last. Raises ParameterError (``interval``) past
    ``MAX_BARS``."""
    moment = _floor(_local(start_ms, tz), interval)
    bounds = [epoch_ms(moment)]
    while bounds[-1] <= end_ms:
        if len(bounds) > MAX_BARS:
            raise ParameterError(
                "interval",
                f"o período tem mais de {MAX_BARS} barras de interval={interval}: "
                + (
                    "use interval=day ou um período menor"
                    if interval == "hour"
                    else "use um período menor"
                ),
            )
        moment = _next(moment, interval, tz)
        bounds.append(epoch_ms(moment))
    return tuple(bounds)


def _local(ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


def _floor(moment: datetime, interval: Interval) -> datetime:
    hour = moment.replace(minute=0, second=0, microsecond=0)
    # A wall time repeated by the clocks keeps its fold, so the floor is the same instant's.
    return hour if interval == "hour" else hour.replace(hour=0, fold=0)


def _next(moment: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    """The next bar's start: an hour of elapsed time later floored to the wall hour, or the
    next calendar day's midnight (a skipped midnight resolves to the jump: fold=0)."""
    if interval == "hour":
        return _floor(_local(epoch_ms(moment) + HOUR_MS, tz), "hour")
    day = moment.date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def fold_bars(query: StatsQuery, rows: Iterable[StatsRow]) -> list[Bar]:
    """The bars of ``query`` from the store's rows: every bar of the range, empty ones too."""
    starts = query.bounds[:-1]
    bars = [Bar(start) for start in starts]
    totals = [0] * len(bars)
    index = {start: i for i, start in enumerate(starts)}
    for group, value, count in rows:
        at = group * query.quantum_ms
        # Most groups start a bar (an hour); others fall inside one.
        i = index.get(at)
        if i is None:
            i = bisect_right(starts, at) - 1
        totals[i] += count
        if query.split is not None:
            key = NO_VALUE if value is None else value
            bars[i].counts[key] = bars[i].counts.get(key, 0) + count
    return [Bar(bar.start_ms, total, bar.counts) for bar, total in zip(bars, totals, strict=True)]
