"""No personal data in the access log (issue 21, 2.11): the value of every parameter that
is not on the list of harmless ones is masked, whatever the parameter's spelling, case or
encoding; a known name or a misspelt one, a name made up, a value sent plainly or escaped
byte by byte.

What the app reads is what ``urllib.parse.parse_qsl`` reads (Starlette's query parsing), so
that is the reference: each pair the app would see is checked against the pair the log
shows at the same place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, quote, quote_plus

import orjson
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from atende_logs.http.access_log import PHONE_PARAMETERS, SHOWN_PARAMETERS, redact_query
from atende_logs.kinds import KINDS

DOCUMENTED = sorted({spec.param for kind in KINDS.values() for spec in kind.filters} | {"token"})
PERSONAL = [name for name in DOCUMENTED if name not in SHOWN_PARAMETERS]


def respelt(name: str) -> st.SearchStrategy[str]:
    """``name`` with each letter's case chosen at random (``Number``, ``aTTendant_email``)."""
    flips = st.lists(st.booleans(), min_size=len(name), max_size=len(name))
    return flips.map(
        lambda up: "".join(c.upper() if u else c for c, u in zip(name, up, strict=True))
    )


NAMES = st.one_of(
    st.sampled_from(PERSONAL),
    st.sampled_from(PERSONAL + sorted(SHOWN_PARAMETERS)).flatmap(respelt),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
)
VALUES = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=24)


def every_byte(text: str, upper: bool) -> str:
    return "".join(f"%{b:02X}" if upper else f"%{b:02x}" for b in text.encode())


def written(text: str, how: int) -> str:
    """``text`` as a client may put it in a query: form-encoded (0), every byte escaped in
    upper (1) or lower case (2), path-style escaping (3), or as it is (4)."""
    if how == 0:
        return quote_plus(text)
    if how in (1, 2):
        return every_byte(text, upper=how == 1)
    if how == 3:
        return quote(text, safe="")
    return text


@settings(max_examples=300)
@given(st.lists(st.tuples(NAMES, VALUES, st.integers(0, 4), st.integers(0, 4)), max_size=6))
@example([("Number", "5511987654321", 4, 4)])
@example([("attendant_email", "maria.souza@example.com", 0, 0)])
@example([("%6Eumber", "5511987654321", 4, 4)])
def test_no_value_of_a_parameter_not_shown_reaches_the_log(
    pairs: list[tuple[str, str, int, int]],
) -> None:
    query = "&".join(f"{written(n, hn)}={written(v, hv)}" for n, v, hn, hv in pairs)
    read = parse_qsl(query, keep_blank_values=True)  # what the app sees
    logged = parse_qsl(redact_query(query), keep_blank_values=True)
    assert len(logged) == len(read)
    for (name, value), (shown_name, shown) in zip(read, logged, strict=True):
        if name in SHOWN_PARAMETERS:
            assert shown_name == name
            if "atl_" not in value and not (name == "after" and "card:" in value):
                assert shown == value  # harmless: kept for the reader
            continue
        if name in PHONE_PARAMETERS and len(value) > 4:
            assert shown == "***" + value[-4:]
        else:
            assert shown == "***"
        assert shown_name in (name, "***")
        if shown_name == name != "***":
            assert name.replace("_", "").isalpha()  # only a plain word is shown as a name


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def access_log() -> Iterator[list[str]]:
    """The access log's lines while the block runs (caplog cannot serve @given tests)."""
    logger, handler = logging.getLogger("atende_logs.access"), _Lines()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


MARKER = st.text("0123456789abcdef", min_size=12, max_size=12).map(lambda hex_: "pii" + hex_)


@settings(max_examples=60)
@given(
    name=st.one_of(st.sampled_from(PERSONAL).flatmap(respelt), st.sampled_from(["q", "x_y"])),
    marker=MARKER,
    how_name=st.integers(0, 4),
    how_value=st.integers(0, 4),
    path=st.sampled_from(list({kind.path for kind in KINDS.values()}) + ["/nothing"]),
)
def test_a_request_never_logs_personal_data_sent_in_a_parameter(
    client: TestClient, name: str, marker: str, how_name: int, how_value: int, path: str
) -> None:
    query = f"size=5&{written(name, how_name)}={written(marker, how_value)}"
    with access_log() as lines:
        client.get(f"{path}?{query}")
    [line] = lines
    entry = orjson.loads(line)
    for form in (marker, marker.upper(), every_byte(marker, True), every_byte(marker, False)):
        assert form not in line
    assert "size=5" in entry["query"]
