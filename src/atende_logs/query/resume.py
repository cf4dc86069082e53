"""The ``after`` forms a client builds from the last item it received, to resume after it.

A page's own ``after`` is opaque, and an export (issue 4) has none to hand back: a client
whose connection dropped knows only the items it got. So it may name the last of them:

- ``id:<id>``: the item's id field as text (attendant logs ``id``, CDRs ``callid``, cards
  ``id``);
- ``card:<number>@<timestamp>``: a card stored without an ``id``, by its ``number`` and
  ``timestamp`` fields as the card shows them, the two its stored id is derived from.

The store looks the item up with one primary-key read, scoped to the caller (and, for
cards, to the dialer), and continues strictly after it. An item the caller does not have
is a 400 naming ``after``.
"""

from __future__ import annotations

import re
from datetime import tzinfo

from atende_logs import normalize
from atende_logs.errors import ParameterError
from atende_logs.kinds import Kind
from atende_logs.models import ItemRef
from atende_logs.normalize import ASCII_DIGITS
from atende_logs.query.times import MAX_MS

ID_PREFIX = "id:"
CARD_PREFIX = "card:"

# A "+" of an offset that arrived as a space (an unencoded query string): " 03:00" at the end.
_SPACED_OFFSET = re.compile(r" ([0-9]{2}(?::?[0-9]{2})?)$")


def names_item(raw: str) -> bool:
    """Whether an ``after`` value is one of the forms built from an item."""
    return raw.startswith((ID_PREFIX, CARD_PREFIX))


def parse_item_ref(raw: str, kind: Kind, zone: tzinfo) -> ItemRef:
    """Read ``id:…`` or ``card:…`` (see ``names_item``) for ``kind``.

    ``zone`` reads a card timestamp without an offset, as ingest read it. Raises
    ParameterError naming ``after`` when the value cannot name an item of ``kind``.
    """
    if raw.startswith(ID_PREFIX):
        # The id is kept exactly as sent, spaces included: ingest stores ids as they come.
        doc_id = raw[len(ID_PREFIX) :]
        if not doc_id.strip():
            raise ParameterError(
                "after", f"after id: precisa do {kind.id_field} do último item recebido"
            )
        return ItemRef(doc_id=doc_id)
    if kind.derived_id_from is None:
        raise ParameterError("after", f"after card: só vale para fichas; use id:<{kind.id_field}>")
    number, at, stamp = raw[len(CARD_PREFIX) :].rpartition("@")
    time_ms = _card_time(stamp.strip(), zone) if at else None
    if time_ms is None:
        raise ParameterError(
            "after",
            f"after card: deve ser card:<number>@<timestamp> da última ficha recebida: {raw!r}",
        )
    return ItemRef(number=number, time_ms=time_ms)


def candidate_ids(ref: ItemRef, dialer_id: int | None) -> list[str]:
    """The stored ids ``ref`` may name: its id, or the ids a card's number and time give.

    A card whose number was null or absent shows no number, and neither does one whose
    number was empty text; their ids differ, so an empty number tries both.
    """
    if ref.doc_id is not None:
        return [ref.doc_id]
    assert ref.time_ms is not None
    numbers: list[str | None] = [ref.number] if ref.number else [None, ""]
    return [normalize.derived_card_id(dialer_id, number, ref.time_ms) for number in numbers]


def _card_time(text: str, zone: tzinfo) -> int | None:
    """Epoch ms of a card's timestamp as ingest read it; None when it is no time."""
    value: int | None
    if ASCII_DIGITS.fullmatch(text):
        # A JSON number in the card: epoch milliseconds, as ingest reads it.
        value = int(text) if len(text) <= 15 else MAX_MS + 1
    else:
        value = _instant(text, zone)
        if value is None and _SPACED_OFFSET.search(text):
            value = _instant(_SPACED_OFFSET.sub(r"+\1", text), zone)
    return value if value is not None and 0 <= value <= MAX_MS else None


def _instant(text: str, zone: tzinfo) -> int | None:
    try:
        return normalize.instant_ms(text, zone)
    except (ValueError, OverflowError):
        return None
