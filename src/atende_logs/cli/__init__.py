"""The ``atende-logs`` command line."""

import sys


def main() -> None:
    """The console script's entry point.

    The commands load when it runs, not when this module is imported: an import's parsing
    processes start (multiprocessing's spawn) by importing the script that started their
    parent, and that import cost each of them over a second when it loaded the whole CLI
    (docs/benchmarks-history.md, "Import into PostgreSQL").

    ``pull``, the customers' client, loads only itself: the other commands' modules (the
    settings, the storage, the demo data, the importers) took most of its start-up, which is
    in every pull's time (docs/benchmarks.md, "Over a real link").
    """
    if sys.argv[1:2] == ["pull"]:
        from atende_logs.cli.pull import pull_app

        pull_app(prog_name="atende-logs pull", args=sys.argv[2:])
        return
    from atende_logs.cli.main import app

    app(prog_name="atende-logs")
