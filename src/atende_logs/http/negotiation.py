"""Which format a search request's Accept header asks for (the ``format`` parameter wins).

Only an export format named exactly (``application/x-ndjson``, ``text/csv``) selects it;
wildcards (``*/*``, ``text/*``) and anything else get the JSON page, as before exports
existed, and nothing is ever refused with 406: a browser or an old client keeps working.
Between formats named with the same quality, JSON wins.
"""

from __future__ import annotations

from atende_logs.formats import Format

_EXPORTS = {fmt.media_type: fmt for fmt in (Format.NDJSON, Format.CSV)}
_JSON_RANGES = ("application/json", "application/*", "*/*")


def preferred_format(accept: str | None) -> Format:
    """The format ``accept`` prefers: NDJSON, CSV, or JSON for anything else."""
    if not accept:
        return Format.JSON
    # The JSON pages' fast path: a header that names neither export type is not parsed.
    accept = accept.lower()  # media types ignore case
    if "ndjson" not in accept and "csv" not in accept:
        return Format.JSON
    quality = _qualities(accept)
    # JSON's quality is that of the most specific range matching it (RFC 9110 12.5.1).
    json_q = next((quality[r] for r in _JSON_RANGES if r in quality), 0.0)
    best, best_q = Format.JSON, json_q
    for media_type, fmt in _EXPORTS.items():
        q = quality.get(media_type, 0.0)
        if q > best_q:
            best, best_q = fmt, q
    return best


def _qualities(accept: str) -> dict[str, float]:
    """Media range -> quality, from an Accept header; a range listed twice keeps its first."""
    found: dict[str, float] = {}
    for part in accept.split(","):
        media_range, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0  # a malformed quality counts as "not acceptable"
        found.setdefault(media_range, q)
    return found
