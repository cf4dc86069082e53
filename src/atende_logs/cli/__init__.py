"""The ``atende-logs`` command line."""


def main() -> None:
    """The console script's entry point.

    The commands load when it runs, not when this module is imported: an import's parsing
    processes start (multiprocessing's spawn) by importing the script that started their
    parent, and that import cost each of them over a second when it loaded the whole CLI
    (docs/benchmarks-history.md, "Import into PostgreSQL").
    """
    from atende_logs.cli.main import app

    app(prog_name="atende-logs")
