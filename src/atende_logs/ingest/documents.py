"""One incoming document into a storable ``Row``, or the reason it cannot be stored."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import orjson

from atende_logs import normalize
from atende_logs.ingest.readers import MAX_DEPTH, TOO_DEEP
from atende_logs.kinds import Kind
from atende_logs.models import Row
from atende_logs.query.times import MAX_MS

TOKEN_MASK = "****************"
"""What a masked field (``Kind.masked_fields``: a card's dialer token) reads as, stored and
served (as the spec shows)."""

MAX_INDEXED_BYTES = 2_000
"""Most bytes a record's id and filter values may hold together (UTF-8, numbers as text).

PostgreSQL's time index carries all of them (migration 0008), and an index entry may not
pass 2,704 bytes: a longer one would fail its whole batch. Real ids, phone numbers, emails
and statuses take about 150 bytes; what passes this is refused alone, with its reason, on
both databases alike."""


class RecordError(ValueError):
    """A record that cannot be stored; the message is the reason, in Portuguese."""


def to_row(
    kind: Kind,
    doc: dict[str, Any],
    zone: tzinfo,
    dialer_id: int | None = None,
    raw: bytes | None = None,
) -> Row:
    """Validate ``doc`` and extract what storage needs: id, time, JSON text, filter keys.

    ``raw``, when given, is the document's JSON as received (UTF-8); it is stored as is
    (unless the kind masks fields), saving a re-encoding.
    Raises RecordError when the id or the time is missing or unreadable, or the document
    nests more than ``MAX_DEPTH`` levels or cannot be written as JSON.
    """
    time_ms = _time_ms(kind, doc, zone)
    if kind.masked_fields:
        # Credentials are never stored in clear, so no dump or response can leak them. A
        # copy: the caller's document stays as it was.
        doc = {**doc, **dict.fromkeys(kind.masked_fields, TOKEN_MASK)}
    doc_id = _doc_id(kind, doc, time_ms, dialer_id)
    values = tuple([key(extract(doc)) for extract, key in kind.stored_keys])
    # JSON text can only hold a NUL as the escape \u0000: without one, no key has a NUL.
    if raw is None or b"\\u0000" in raw:
        values = tuple(_storable(value) for value in values)
    _check_indexed_size(kind, doc_id, values)
    if raw is None or kind.masked_fields:
        raw = _encoded(doc)
    _check_depth(doc, raw)
    return Row(doc_id, time_ms, raw, values)


def _encoded(doc: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(doc)
    except orjson.JSONEncodeError as exc:
        # Past 254 levels orjson refuses to write (a record from a reader never gets here,
        # at most MAX_DEPTH deep); or a value JSON cannot hold, from a library caller.
        if _deeper_than(doc, MAX_DEPTH):
            raise RecordError(TOO_DEEP) from exc
        raise RecordError(f"o registro não pode ser gravado como JSON ({exc})") from exc


def _check_depth(doc: dict[str, Any], raw: bytes) -> None:
    """RecordError when ``doc`` nests more than ``MAX_DEPTH`` levels: an erasure or an export
    of it would have to write it as JSON again. Walked only when its text holds enough
    brackets to be that deep (a CDR holds about 20)."""
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _deeper_than(doc, MAX_DEPTH):
        raise RecordError(TOO_DEEP)


def _deeper_than(doc: Any, limit: int) -> bool:
    """Whether ``doc`` nests more than ``limit`` objects and arrays, itself included; a walk
    without recursion, which stops at the first container past the limit."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        for child in value.values() if isinstance(value, dict) else value:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _check_indexed_size(kind: Kind, doc_id: str, values: tuple[Any, ...]) -> None:
    # Counted in characters first, on every record: UTF-8 takes at most 4 bytes a character
    # and an integer at most 20 characters, so most records are done in one pass.
    chars = len(doc_id) + sum(len(v) if isinstance(v, str) else 20 for v in values if v is not None)
    if chars * 4 <= MAX_INDEXED_BYTES:
        return
    sizes = {kind.id_field: len(doc_id.encode())}
    for column, value in zip(kind.columns, values, strict=True):
        if value is not None:
            sizes[column] = len(str(value).encode())
    total = sum(sizes.values())
    if total > MAX_INDEXED_BYTES:
        largest = max(sizes, key=sizes.__getitem__)
        raise RecordError(
            f"o id e os campos filtráveis somam {total} bytes, acima do limite de "
            f"{MAX_INDEXED_BYTES} (o maior: {largest!r}, {sizes[largest]} bytes)"
        )


def _storable(key: Any) -> Any:
    """A filter key the databases can hold: text with a NUL is left unsearchable (None)."""
    return None if isinstance(key, str) and "\x00" in key else key


def _time_ms(kind: Kind, doc: dict[str, Any], zone: tzinfo) -> int:
    name = kind.time_field
    if doc.get(name) is None:
        raise RecordError(f"campo {name!r} ausente")
    try:
        time_ms = normalize.instant_ms(doc[name], zone)
    except (ValueError, OverflowError) as exc:
        raise RecordError(f"campo {name!r} não é uma data e hora válida: {doc[name]!r}") from exc
    if not 0 <= time_ms <= MAX_MS:
        raise RecordError(f"campo {name!r} fora do intervalo aceito (1970 a 9999)")
    return time_ms


def _doc_id(kind: Kind, doc: dict[str, Any], time_ms: int, dialer_id: int | None) -> str:
    name = kind.id_field
    value = doc.get(name)
    if value is None and kind.derived_id_from is not None:
        # Identified by what makes it unique: dialer, the field (a card's number), time.
        return normalize.derived_card_id(dialer_id, doc.get(kind.derived_id_from), time_ms)
    if value is None:
        raise RecordError(f"campo {name!r} ausente")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(f"campo {name!r} deve ser texto ou número inteiro")
    text = str(value)
    if not text.strip():
        raise RecordError(f"campo {name!r} vazio")
    if "\x00" in text:
        raise RecordError(f"campo {name!r} contém um caractere nulo")
    return text
