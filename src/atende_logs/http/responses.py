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
    """``{"total": …, "after": …, "items": […]}`` with the stored documents spliced in.

    One join builds the whole body: joining the items first and then wrapping them copies
    a 2.5 MB page twice, and the second large allocation pays in page faults
    (docs/benchmarks-history.md, "every design choice tried").
    """
    head = b'{"total":%d,"after":%b,"items":[' % (page.total, orjson.dumps(page.after))
    if not page.items:
        return head + b"]}"
    parts = list(page.items)
    parts[0] = head + parts[0]
    parts[-1] = parts[-1] + b"]}"
    return b",".join(parts)
