"""The client asks for compressed answers by default, and for none when told (issue 17)."""

from __future__ import annotations

import httpx
import pytest
from httpx._decoders import SUPPORTED_DECODERS

from atende_logs.client import LogsClient
from atende_logs.client.api import COMPRESSED


@pytest.mark.parametrize(("compress", "expected"), [(True, COMPRESSED), (False, "identity")])
def test_the_client_asks_for_compression_unless_told_not_to(compress: bool, expected: str) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["accept-encoding"])
        return httpx.Response(200, json={"total": 0, "after": None, "items": []})

    transport = httpx.MockTransport(answer)
    with LogsClient("http://127.0.0.1:1", "k", transport=transport, compress=compress) as c:
        assert list(c.items("cdrs", {})) == []
    assert seen == [expected]
    # Every coding it asks for is one httpx can decode here.
    assert set(COMPRESSED.split(", ")) <= set(SUPPORTED_DECODERS)
