"""Finding one person's phone number in stored documents, and taking it out (LGPD erasure).

A number reaches us in many spellings ("+55 (11) 98765-4321", "011987654321",
"5511987654321", 5511987654321 as a JSON number). All of them contain the same national
digits (area code and subscriber number, "11987654321") once separators are dropped, so
that is the key erasure searches for, in every string and number of a document, not only
in the filter fields: a number copied into a note is the same personal data. No I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from atende_logs import normalize
from atende_logs.errors import ParameterError

SEPARATORS = " ()-.+"
"""Characters a phone number is written with besides digits. Dropping them from a stored
document's text leaves every spelling of the number as one run of its national digits,
which lets the database pre-select candidate documents with a plain LIKE."""

_DIGITS = "0123456789"
_LEADS = "+("
"""What may open a number before its first digit, each optionally followed by one space."""
_INNER = _DIGITS + " ().+-"
"""What a number is written with between its first and last digits."""
_ALNUM = re.compile(r"\w")
_PREFIXES = ("0055", "055", "55", "00", "0")
"""What may precede the national digits: international, trunk and country prefixes. They
are erased with the number, so no spelling leaves a telling fragment behind."""
MASK = "[apagado]"
"""What replaces the number inside a longer text ("ligar 11 98765-4321 às 14h")."""
AUDIT_DIGITS = 4
"""Trailing digits of an erased number kept in the audit: see migration 0006."""


def erasure_key(number: str) -> str:
    """The digits every spelling of ``number`` contains: a Brazilian number's area code and
    subscriber number (10 or 11 digits), or a foreign number's country code and number.

    The phone filters' key (``normalize.phone_number``), so a number erased is the number
    ``ani=``/``alt_dnis=``/``number=`` find. Raises ParameterError (``phone``) when
    ``number`` is not a person's phone number with an area code (a 0800 number is not).
    """
    found = normalize.phone_number(number)
    if found.sort in ("national", "foreign"):
        return found.key
    raise _invalid(number)


def _invalid(number: str) -> ParameterError:
    return ParameterError(
        "phone",
        f"{number!r} não é um número de telefone com DDD (ex.: +55 11 98765-4321)",
    )


def audit_hint(key: str) -> str:
    """What the audit keeps of an erased number: its last digits only."""
    return key[-AUDIT_DIGITS:]


def redact(doc: dict[str, Any], key: str, keep: tuple[str, ...] = ()) -> bool:
    """Take every occurrence of the number ``key`` out of ``doc``, in place.

    A value that is only the number becomes null (the contract's "no number"); a longer
    text keeps its words and gets ``MASK`` where the number was. Keys never change, so the
    document keeps its shape. Top-level fields named in ``keep`` (the id and the time, which
    ingest needs) are left alone. Returns whether anything changed.
    """
    changed = False
    for name, value in doc.items():
        if name not in keep:
            doc[name], found = _redacted(value, key)
            changed = changed or found
    return changed


def _redacted(value: Any, key: str) -> tuple[Any, bool]:
    """``value`` without the number, and whether it held it."""
    if isinstance(value, dict):
        return value, redact(value, key)
    if isinstance(value, list):
        pairs = [_redacted(item, key) for item in value]
        return [item for item, _ in pairs], any(found for _, found in pairs)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value, False
    if isinstance(value, int | float):
        return (None, True) if key in str(value) else (value, False)
    text = _redacted_text(value, key)
    return text, text != value


def phone_runs(text: Sequence[str]) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of a text that may spell a phone number: opening "+" or "("
    (each optionally followed by a space), a digit, then digits and separators up to the
    last digit. The spans ``(?:[+(] ?)*[0-9](?:[0-9 ().+-]*[0-9])?`` finds with finditer.

    One pass, each character looked at a bounded number of times: that regex backtracked,
    and a run of openings without a digit ("( ( ( …") cost time in the square of its
    length, inside an erasure's write transaction. Only ``len(text)`` and ``text[i]`` are
    used, so tests/test_redaction_scan.py can count the looks.
    """
    length, end, i = len(text), 0, 0
    while i < length:
        if text[i] not in _DIGITS:
            i += 1
            continue
        start = i  # back over the openings, never into the previous run
        while start > end:
            if text[start - 1] in _LEADS:
                start -= 1
            elif text[start - 1] == " " and start - 2 >= end and text[start - 2] in _LEADS:
                start -= 2
            else:
                break
        end = i = i + 1  # forward over the number's characters, ending at its last digit
        while i < length and text[i] in _INNER:
            if text[i] in _DIGITS:
                end = i + 1
            i += 1
        yield start, end


def _redacted_text(text: str, key: str) -> str | None:
    parts: list[str] = []
    position = 0
    for run_start, run_end in phone_runs(text):
        for start, end in _number_spans(text[run_start:run_end], key):
            parts += [text[position : run_start + start], MASK]
            position = run_start + end
    if not parts:
        return text
    parts.append(text[position:])
    result = "".join(parts)
    return None if not _ALNUM.search(result.replace(MASK, "")) else result


def _number_spans(run: str, key: str) -> list[tuple[int, int]]:
    """Where in ``run`` (digits and separators) the number is, each with its prefix."""
    places = [index for index, char in enumerate(run) if char.isdigit()]
    digits = "".join(run[index] for index in places)
    places[0] = 0  # a span from the first digit takes the "+" or "(" before it too
    spans: list[tuple[int, int]] = []
    found, done = digits.find(key), 0
    while found >= 0:
        first = found
        for prefix in _PREFIXES:
            if digits[done:found].endswith(prefix):
                first = found - len(prefix)
                break
        spans.append((places[first], places[found + len(key) - 1] + 1))
        done = found + len(key)
        found = digits.find(key, done)
    return spans
