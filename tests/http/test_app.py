"""How the app bounds its own concurrency."""

from __future__ import annotations

from anyio import to_thread
from fastapi.testclient import TestClient

from atende_logs.config import Settings
from atende_logs.http import create_app
from atende_logs.http.app import DEFAULT_DB_THREADS
from atende_logs.storage import Store


async def _thread_tokens() -> float:
    return to_thread.current_default_thread_limiter().total_tokens


def test_database_threads_default_per_backend(app_settings: Settings, store: Store) -> None:
    with TestClient(create_app(app_settings, store=store)) as client:
        assert client.portal is not None
        tokens = client.portal.call(_thread_tokens)

    assert tokens == DEFAULT_DB_THREADS[store.backend]


def test_database_threads_setting_overrides(app_settings: Settings, store: Store) -> None:
    settings = app_settings.model_copy(update={"db_threads": 7})

    with TestClient(create_app(settings, store=store)) as client:
        assert client.portal is not None
        tokens = client.portal.call(_thread_tokens)

    assert tokens == 7
