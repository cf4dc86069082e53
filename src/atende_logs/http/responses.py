"""Response bodies built from bytes: stored documents pass through without being parsed."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from atende_logs.models import Page


class JSONResponse(Response):
    """A JSON response serialised by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def page_body(page: Page) -> bytes:
    """``{"total": …, "after": …, "items": […]}`` with the stored documents spliced in."""
    return b"".join(
        (
            b'{"total":',
            str(page.total).encode(),
            b',"after":',
            orjson.dumps(page.after),
            b',"items":[',
            b",".join(page.items),
            b"]}",
        )
    )
