from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from atende_logs import demo_documents
from atende_logs.ingest.demo_loading import prepare_demo
from atende_logs.query.times import zone
from atende_logs.storage.migrate import upgrade
from atende_logs.storage.sqlite import SQLiteStore

SAO_PAULO = zone("America/Sao_Paulo")


def test_a_later_run_points_at_the_days_the_data_covers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    upgrade(url)
    store = SQLiteStore(url)
    try:
        loaded = demo_documents.DemoPlan(
            start=datetime(2024, 3, 4, tzinfo=SAO_PAULO), attendant_logs=50, cdrs=40, cards=10
        )
        first = prepare_demo(store, SAO_PAULO, loaded)
        assert first is not None and first.loaded is not None
        # The second run has no plan of its own: "today" is long after 2024.
        again = prepare_demo(store, SAO_PAULO)
        assert again is not None and again.loaded is None
        starts = [
            datetime.fromisoformat(doc["ori_start_time"]) for doc in demo_documents.cdrs(loaded)
        ]
        assert again.plan.start <= min(starts) and max(starts) < again.plan.end
    finally:
        store.close()
