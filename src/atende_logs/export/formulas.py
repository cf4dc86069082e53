"""CSV cells a spreadsheet would run as formulas, made inert (issue 21, finding 2.3).

Excel, LibreOffice and Google Sheets take a cell starting with ``=``, ``+``, ``-`` or
``@`` (or with a tab or a carriage return before one) for a formula, so a value a caller
typed (an agent's ``my_status_name`` of ``=HYPERLINK(…)``, a DDE payload) would run on the
machine of whoever opens the export. OWASP's advice (the "CSV Injection" page) is followed:
such a cell gets a leading ``'``, which spreadsheets read as "this is text" and do not show.

A plain decimal number is exempt, the one exception: ``-48.3317167`` (the spec's
``ani_long``, a string) is data a spreadsheet reads as a number, and no formula can be
spelt with a sign, digits and one point, so a quote would only spoil it. JSON numbers,
booleans, objects and arrays never reach this check: their cells are the encoder's own
JSON text. ``escape_formulas=False`` (``csv_formulas=raw``) writes every cell as stored,
for programs that read the CSV themselves.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP's list)."""
FORMULA_FIRST = frozenset(FORMULA_STARTS)
"""The same, for a set lookup of a cell's first character."""
QUOTE = "'"

# ASCII digits only: str.isdigit() and \d also take Arabic-Indic and other digits.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def inert(text: str) -> str:
    """``text`` as a cell no spreadsheet runs: with a leading ``'`` when it starts like a
    formula and is not a plain decimal number (``-48.33``, ``+5511987654321``)."""
    if text.startswith(FORMULA_STARTS) and _PLAIN_NUMBER.fullmatch(text) is None:
        return QUOTE + text
    return text
