"""The rate limits as documented, for the tests that exercise them.

The suite's environment raises every quota out of reach (tests/conftest.py); a test of the
limits builds its settings from these instead, with refusals answered at once.
"""

from __future__ import annotations

from typing import Any

from atende_logs.config import Settings

DEFAULT_LIMITS: dict[str, Any] = {
    name: Settings.model_fields[name].default
    for name in (
        "rate_limit_enabled",
        "rate_limit_quota",
        "rate_limit_window_s",
        "ingest_rate_limit_quota",
        "ingest_rate_limit_window_s",
        "concurrent_requests_per_key",
        "auth_failure_quota",
        "auth_failure_window_s",
    )
} | {"rate_limit_refusal_delay_ms": 0}
