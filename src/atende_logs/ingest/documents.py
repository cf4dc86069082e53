"""One incoming document into a storable ``Row``, or the reason it cannot be stored."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import orjson

from atende_logs import normalize
from atende_logs.kinds import Kind
from atende_logs.models import Row
from atende_logs.query.times import MAX_MS

TOKEN_MASK = "****************"
"""What a card's dialer token reads as, stored and served (as the spec shows)."""


class RecordError(ValueError):
    """A record that cannot be stored; the message is the reason, in Portuguese."""


def to_row(
    kind: Kind,
    doc: dict[str, Any],
    zone: tzinfo,
    dialer_id: int | None = None,
    text: str | None = None,
) -> Row:
    """Validate ``doc`` and extract what storage needs: id, time, JSON text, filter keys.

    ``text``, when given, is the document's JSON as received; it is stored as is (cards
    excepted: their token must be masked), saving a re-encoding.
    Raises RecordError when the id or the time is missing or unreadable.
    """
    time_ms = _time_ms(kind, doc, zone)
    if kind.has_dialer:
        # The token is a credential: it is never stored in clear, so no dump or response
        # can leak it.
        doc = {**doc, "token": TOKEN_MASK}  # a copy: the caller's document stays as it was
    doc_id = _doc_id(kind, doc, time_ms, dialer_id)
    values = tuple(_storable(spec.key(spec.extract(doc))) for spec in kind.stored_filters)
    if text is None or kind.has_dialer:
        text = orjson.dumps(doc).decode()
    return Row(doc_id, time_ms, text, values)


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
    if value is None and kind.has_dialer:
        # A card without an id is identified by what makes it unique: dialer, number, time.
        return normalize.derived_card_id(dialer_id, doc.get("number"), time_ms)
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
