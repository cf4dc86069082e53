"""Erasure's scan for phone-like runs is linear (issue 21, 2.8), and finds what it found.

The regex it replaces took time in the square of a run of openings without a digit
("( ( ( …": 10.8 s for 40,000 characters, inside an erasure's write transaction). The work
is counted, not timed: the scanner reads the text only through ``len`` and indexing, and a
counting sequence tallies every character it looks at.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, overload

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atende_logs.redaction import phone_runs

LOOKS_PER_CHARACTER = 6
"""The bound asserted, a generous constant: forward, each character is read at most twice
(plus the one ending a run, read again); backward over the openings before a digit, at
most twice more, and never past the previous run's end. Measured: 2.5 at most."""

OLD_RUN = re.compile(r"(?:[+(] ?)*[0-9](?:[0-9 ().+\-]*[0-9])?")
"""The regex the scanner replaces: the reference for what it must find."""


class Counted(Sequence[str]):
    """A text that counts how many times one of its characters is read."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.looks = 0

    def __len__(self) -> int:
        return len(self.text)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: Any) -> Any:
        if not isinstance(index, int):
            raise AssertionError("the scanner reads one character at a time")
        self.looks += 1
        return self.text[index]


def looks(text: str) -> tuple[list[tuple[int, int]], int]:
    counted = Counted(text)
    spans = list(phone_runs(counted))
    return spans, counted.looks


PIECES = ["( ", "(", "+", "+ ", " ", "  ", "-", ".", ")", "1", "98", "a", "((", "9 ", "( 1"]
ADVERSARIAL = st.lists(st.sampled_from(PIECES), max_size=3_000).map("".join)
PHONEISH = st.text(alphabet="0123456789 ().+-x\n", max_size=3_000)


@given(text=ADVERSARIAL | PHONEISH | st.text(max_size=500))
def test_the_work_is_linear_in_the_text(text: str) -> None:
    _, count = looks(text)
    assert count <= LOOKS_PER_CHARACTER * len(text) + LOOKS_PER_CHARACTER


@given(text=st.text(alphabet="0123456789 ().+-ab\n", max_size=60) | st.text(max_size=60))
def test_it_finds_what_the_regex_found(text: str) -> None:
    assert list(phone_runs(text)) == [match.span() for match in OLD_RUN.finditer(text)]


N = 40_000


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("( " * N, []),  # the case: openings, never a digit
        ("(" * N, []),
        ("+ " * N + "x", []),
        ("(" * N + "1", [(0, N + 1)]),  # one run: every opening is the number's
        ("( " * N + "1", [(0, 2 * N + 1)]),
        (" " * N + "1", [(N, N + 1)]),
        ("1" + " " * N, [(0, 1)]),  # separators after the last digit are not the run's
        ("1" + " -" * N + "x", [(0, 1)]),
        ("1-" * N, [(0, 2 * N - 1)]),
        ("1 (" * N, [(0, 3 * N - 2)]),
        ("1 x(" * N, [(0, 1)] + [(4 * k - 1, 4 * k + 1) for k in range(1, N)]),
    ],
    ids=lambda value: repr(value[:12]) if isinstance(value, str) else "",
)
def test_adversarial_texts(text: str, spans: list[tuple[int, int]]) -> None:
    found, count = looks(text)
    assert found == spans
    assert count <= LOOKS_PER_CHARACTER * len(text)
