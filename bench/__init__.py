"""The benchmark suite of issue 3: ingest and query figures beside the database's own floor.

Run from the repository root with the project's virtualenv::

    .venv/bin/python -m bench --db sqlite --quick
    .venv/bin/python -m bench --db postgresql --rows 10000000

See ``docs/benchmarks.md`` for what each figure means.
"""
