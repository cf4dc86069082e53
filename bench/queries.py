"""The queries of issue 3, each for attendant logs and CDRs, on the big customer's data.

Q1 first page of 1,000 in a one-month range, with its total; Q2 the same with one equality
filter; Q3 a deep page (``after`` a millisecond in the middle of the month); Q4 a selective
filter (a call id found in the data); Q5 a page of 100 with three filters; Q1-100 is Q1
with ``size=100``. Two more test the issue's "total never dominates" target: Q1-all lists
all of the customer's rows (no range) and Q3-all is its page from the middle. QS and QS-hour
are the stats endpoint (issue 20) over the month: by day split by a status, the console's
chart; by hour without a split, served from the hourly counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from atende_logs.kinds import KINDS
from atende_logs.query import parse_search
from atende_logs.query.stats import parse_stats
from atende_logs.storage.base import Store
from bench.common import DAYS, MONTH, START, TZ
from bench.common import KINDS as KIND_NAMES

Params = tuple[tuple[str, str], ...]

ORDER = ("Q1", "Q2", "Q3", "Q4", "Q5", "Q1-100", "Q1-all", "Q3-all", "QS", "QS-hour")
TITLES = {
    "Q1": "first page of 1,000 in a month, with total",
    "Q2": "Q1 + one equality filter",
    "Q3": "deep page: after = middle of the month",
    "Q4": "selective filter: one call id",
    "Q5": "page of 100 with three filters",
    "Q1-100": "Q1 with size=100",
    "Q1-all": "first page of 1,000 of all the customer's rows",
    "Q3-all": "Q1-all from the middle of its rows",
    "QS": "stats: a month by day, split by status",
    "QS-hour": "stats: a month by hour, no split (hourly counts)",
}
STATS_QUERIES = ("QS", "QS-hour")
"""The queries of the stats endpoint rather than of the listing."""
PAGE_QUERIES = ("Q1", "Q2", "Q3", "Q4", "Q5", "Q1-100")
"""The queries the target on the server's own cost (against a bare app's) applies to."""
LARGE_PAGES = ("Q1", "Q2", "Q3")
"""Pages of 1,000: the 8-client throughput target (≥ 0.6 of the floor's) applies to them."""


@dataclass(frozen=True)
class Query:
    qid: str
    kind: str
    params: Params

    @property
    def label(self) -> str:
        return f"{self.qid} {self.kind}"

    def path(self) -> str:
        kind = KINDS[self.kind]
        return kind.stats_path if self.qid in STATS_QUERIES else kind.path

    def run_floor(self, store: Store, customer_id: int) -> None:
        """The API handler's store call, without HTTP."""
        kind = KINDS[self.kind]
        if self.qid in STATS_QUERIES:
            query, _ = parse_stats(kind, self.params, customer_id=customer_id, default_tz=TZ)
            store.stats(query)
            return
        store.search(parse_search(kind, self.params, customer_id=customer_id, default_tz=TZ))


def _midnight_ms(day: date) -> int:
    start = datetime(day.year, day.month, day.day, tzinfo=START.tzinfo)
    return int(start.timestamp() * 1000)


def month_middle_ms() -> int:
    """A millisecond in the middle of the month the queries read."""
    first, last = date.fromisoformat(MONTH[0]), date.fromisoformat(MONTH[1])
    return (_midnight_ms(first) + _midnight_ms(last + timedelta(days=1))) // 2


def data_middle_ms() -> int:
    """A millisecond in the middle of the whole data set."""
    return int((START + timedelta(days=DAYS / 2)).timestamp() * 1000)


def _sample(store: Store, kind: str, customer_id: int) -> list[dict[str, Any]]:
    """Documents from the middle of the month: where the queries' values are taken from."""
    pairs = [
        ("start_at", MONTH[0]),
        ("end_at", MONTH[1]),
        ("after", str(month_middle_ms())),
        ("size", "1000"),
    ]
    query = parse_search(KINDS[kind], pairs, customer_id=customer_id, default_tz=TZ)
    docs = [orjson.loads(item) for item in store.search(query).items]
    if not docs:
        raise SystemExit(f"no {kind} in {MONTH}: is the database loaded?")
    return docs


def build(store: Store, customer_id: int, wanted: tuple[str, ...] | None) -> list[Query]:
    """Every query of ``wanted`` (all when None), its values found in the stored data."""
    month = (("start_at", MONTH[0]), ("end_at", MONTH[1]))
    page = (*month, ("size", "1000"))
    queries: list[Query] = []
    for kind in KIND_NAMES:
        docs = _sample(store, kind, customer_id)
        if kind == "attendant-logs":
            call = next((d for d in docs if (d.get("call") or {}).get("call_id")), None)
            email = (call or docs[0])["attendant"]["email"]
            one = (("attendant_email", email),)
            # Without a call in the sample (tiny data sets), a lookup that finds nothing.
            selective = (("call_id", call["call"]["call_id"] if call else "0"),)
            three = (("attendant_email", email), ("kind", "status"), ("screen", "available"))
        else:
            one = (("call_status", "abandoned"),)
            selective = (("call_id", docs[0]["callid"]),)
            three = (("call_status", "answered"), ("period", "worktime"), ("call_terminated", "B"))
        split = (("split", KINDS[kind].splits[0]),)
        by_id: dict[str, Params] = {
            "Q1": page,
            "Q2": (*page, *one),
            "Q3": (*page, ("after", str(month_middle_ms()))),
            "Q4": (*page, *selective),
            "Q5": (*month, ("size", "100"), *three),
            "Q1-100": (*month, ("size", "100")),
            "Q1-all": (("size", "1000"),),
            "Q3-all": (("size", "1000"), ("after", str(data_middle_ms()))),
            "QS": (*month, ("interval", "day"), *split),
            "QS-hour": (*month, ("interval", "hour")),
        }
        queries += [Query(q, kind, by_id[q]) for q in ORDER if wanted is None or q in wanted]
    return queries
