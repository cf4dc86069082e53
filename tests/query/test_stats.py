"""Bars laid on a zone's calendar (``query.stats``): days the clocks change, zones of half
hours, and the bar limit."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from atende_logs.errors import ParameterError
from atende_logs.kinds import CDRS
from atende_logs.query.stats import HOUR_MS, MAX_BARS, bar_bounds, fold_bars, parse_stats


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def hours(bounds: tuple[int, ...]) -> list[float]:
    return [(b - a) / HOUR_MS for a, b in zip(bounds, bounds[1:], strict=False)]


@pytest.mark.parametrize(
    ("zone", "start", "end", "lengths"),
    [
        # Brazil's last jump forward (00:00 → 01:00) and a jump back (00:00 → 23:00).
        ("America/Sao_Paulo", "2018-11-03T12:00-03:00", "2018-11-05T12:00-02:00", [24, 23, 24]),
        ("America/Sao_Paulo", "2019-02-16T12:00-02:00", "2019-02-17T12:00-03:00", [25, 24]),
        ("America/New_York", "2018-11-04T00:00-04:00", "2018-11-04T23:00-05:00", [25]),
        ("UTC", "2018-11-04T00:00Z", "2018-11-05T00:00Z", [24, 24]),
    ],
)
def test_a_day_lasts_what_the_zone_s_calendar_says(
    zone: str, start: str, end: str, lengths: list[int]
) -> None:
    assert hours(bar_bounds(ms(start), ms(end), "day", ZoneInfo(zone))) == lengths


def test_hours_repeated_by_the_clocks_are_bars_of_their_own() -> None:
    zone = ZoneInfo("America/New_York")
    bounds = bar_bounds(ms("2018-11-04T00:30-04:00"), ms("2018-11-04T02:30-05:00"), "hour", zone)
    local = [datetime.fromtimestamp(b / 1000, zone).strftime("%H%z") for b in bounds]
    assert local == ["00-0400", "01-0400", "01-0500", "02-0500", "03-0500"]


def test_half_hour_zones_are_counted_by_half_hours() -> None:
    query, _ = parse_stats(
        CDRS,
        [("start_at", "2024-05-06"), ("end_at", "2024-05-07"), ("tz", "Asia/Kolkata")],
        customer_id=1,
        default_tz="UTC",
    )
    assert query.quantum_ms == HOUR_MS // 2
    start = query.bounds[0]
    assert datetime.fromtimestamp(start / 1000, UTC).isoformat() == "2024-05-05T18:30:00+00:00"
    # A record at 19:00 UTC (00:30 in Kolkata) is in the first day, one at 18:29 is not asked.
    bars = fold_bars(query, [((start + HOUR_MS // 2) // query.quantum_ms, None, 3)])
    assert [bar.total for bar in bars] == [3, 0]


def test_more_bars_than_a_chart_shows_are_refused() -> None:
    zone = ZoneInfo("UTC")
    assert len(bar_bounds(0, (MAX_BARS - 1) * HOUR_MS, "hour", zone)) == MAX_BARS + 1
    with pytest.raises(ParameterError) as raised:
        bar_bounds(0, MAX_BARS * HOUR_MS, "hour", zone)
    assert raised.value.parameter == "interval"
