"""``python -m bench.partitions --url postgresql://…/postgres --rows 1000000``: retention of a
month of CDRs, row by row against a whole partition, and the migration that partitions an
existing database (issue 18; docs/partitions.md).

It makes a database of its own (``bench_partitions``, dropped first if there), migrates it to
0014 (the tables not yet partitioned), and writes ``--rows`` CDRs of one customer into one
month fourteen months back and a tenth as many into the month after, with their change rows,
by SQL (what is measured here is not the import). Then it times:

1. ``db upgrade`` to 0015: the tables rebuilt partitioned (what it locks: docs/partitions.md);
2. retention of the month **row by row**: ``delete_before`` in batches of 1,000 as ``purge``
   runs it, then the clean-up of change rows;
3. the month written again, and its retention **by partition**: ``drop_partitions_before``
   (the drop, the hourly counts and the feed's mark in one transaction), then the same
   clean-up of change rows (``forget_expired_changes``).

The document is the spec's example CDR with its id and time replaced (~2.4 KB).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from atende_logs.kinds import CDRS
from atende_logs.storage.migrate import upgrade
from atende_logs.storage.partitions import month_start
from atende_logs.storage.postgres import PostgresStore

DATABASE = "bench_partitions"
BATCH = 1_000
_EXAMPLE = Path(__file__).resolve().parents[1] / "src/atende_logs/http/examples/example-cdrs.json"


def _template() -> str:
    document = json.loads(_EXAMPLE.read_text())
    item = document["items"][0] if isinstance(document, dict) else document[0]
    item["callid"], item["ori_start_time"] = "@ID@", "@TIME@"
    return json.dumps(item, ensure_ascii=False)


def _fill(url: str, customer_id: int, start_ms: int, rows: int, prefix: str) -> None:
    """``rows`` CDRs spread over the 30 days from ``start_ms``, and their change rows."""
    head, rest = _template().split('"@ID@"')
    middle, tail = rest.split('"@TIME@"')
    step = 30 * 86_400_000 // rows
    with psycopg.connect(url) as connection:
        connection.execute(
            "INSERT INTO cdrs (customer_id, doc_id, time_ms, doc, call_status, period) "
            "SELECT %(c)s, %(p)s || g, %(s)s::bigint + g::bigint * %(step)s, "
            "%(head)s || to_json(%(p)s || g)::text || %(middle)s "
            "|| (%(s)s::bigint + g::bigint * %(step)s) || %(tail)s, "
            "(ARRAY['answered', 'noanswer', 'busy'])[1 + g %% 3], 'worktime' "
            "FROM generate_series(0, %(n)s - 1) AS g",
            {
                "c": customer_id,
                "p": prefix,
                "s": start_ms,
                "step": step,
                "n": rows,
                "head": head,
                "middle": middle,
                "tail": tail,
            },
        )
        connection.execute(
            "INSERT INTO cdrs_changes (customer_id, doc_id, seq, changed_at_ms, deleted, time_ms) "
            "SELECT customer_id, doc_id, 1, 0, false, time_ms FROM cdrs "
            "WHERE customer_id = %s AND doc_id LIKE %s",
            [customer_id, f"{prefix}%"],
        )
        connection.execute("ANALYZE cdrs")
        connection.execute("ANALYZE cdrs_changes")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.partitions", description=__doc__)
    parser.add_argument("--url", required=True, help="any database of the server to use")
    parser.add_argument("--rows", type=int, default=1_000_000, help="CDRs in the month")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()

    admin = make_conninfo(args.url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        connection.execute(f"CREATE DATABASE {DATABASE}")
    params = conninfo_to_dict(args.url)
    url = f"postgresql://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
    url += f"{params.get('port', 5432)}/{DATABASE}"
    upgrade(url, "0014_retention_marks")
    with psycopg.connect(url) as connection:
        customer_id = connection.execute(
            "INSERT INTO customers (name, created_at_ms) VALUES ('big', 0) RETURNING id"
        ).fetchone()[0]
    now = time.gmtime()
    month, after = (
        month_start(now.tm_year, now.tm_mon - 14),
        month_start(now.tm_year, now.tm_mon - 13),
    )
    _fill(url, customer_id, month, args.rows, "m")
    _fill(url, customer_id, after, args.rows // 10, "n")
    total = args.rows + args.rows // 10
    figures: dict[str, float] = {"rows in the month": args.rows, "rows in all": total}

    started = time.monotonic()
    upgrade(url)
    figures["db upgrade to 0015, s"] = time.monotonic() - started
    figures["db upgrade per 10M rows, s (scaled)"] = figures["db upgrade to 0015, s"] * 1e7 / total

    store = PostgresStore(url, statement_timeout_ms=600_000)
    try:
        store.maintain_partitions()
        started = time.monotonic()
        deleted = 0
        while True:
            batch = store.delete_before(customer_id, CDRS, after, BATCH)
            deleted += batch
            if batch < BATCH:
                break
        figures["row by row: delete_before, s"] = time.monotonic() - started
        started = time.monotonic()
        store.forget_expired_changes(customer_id, CDRS)
        figures["row by row: change rows forgotten, s"] = time.monotonic() - started
        assert deleted == args.rows, deleted

        _fill(url, customer_id, month, args.rows, "m")
        started = time.monotonic()
        lost = store.drop_partitions_before(CDRS, after)
        figures["whole partition: drop + mark, s"] = time.monotonic() - started
        started = time.monotonic()
        store.forget_expired_changes(customer_id, CDRS)
        figures["whole partition: change rows forgotten, s"] = time.monotonic() - started
        assert lost == {customer_id: args.rows}, lost
    finally:
        store.close()
    width = max(len(name) for name in figures)
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:,.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
