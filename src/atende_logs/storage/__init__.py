"""Storage: the ``Store`` protocol, its SQLite and PostgreSQL implementations, migrations."""

from atende_logs.storage._signal import ChangeWatch
from atende_logs.storage.base import Store
from atende_logs.storage.factory import open_store

__all__ = ["ChangeWatch", "Store", "open_store"]
