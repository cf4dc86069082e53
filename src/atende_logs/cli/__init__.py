"""The ``atende-logs`` command line."""
