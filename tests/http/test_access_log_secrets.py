"""No secret and no whole phone number reaches the access log, wherever a client puts it.

test_access_log.py checks the masking of the parameters made to carry them (``token``,
``ani``, ``alt_dnis``, ``number``, ``after=card:``). This file checks the places a client
may put them by mistake or on purpose: a key in any parameter name or value or in the path,
a card ``after`` written oddly, and, through the real app, keys in their headers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from _error_paths import Caller, new_caller
from atende_logs import credentials
from atende_logs.http.access_log import SHOWN_PARAMETERS, redact_query, redact_secrets
from atende_logs.storage import Store

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIXES = [credentials.CUSTOMER_KEY, credentials.INGEST_KEY, credentials.DIALER_TOKEN]
# A secret's random part: what must never be logged (its type prefix may be).
SECRET_BODIES = st.text(BASE62, min_size=28, max_size=28)
SECRETS = st.builds(str.__add__, st.sampled_from(PREFIXES), SECRET_BODIES)
NAMES = st.sampled_from(["after", "call_id", "size", "key", "api_key", "x-api-key", "q"])
# Text around a secret; no "%", which would make the unencoded form (2) mean other text.
AROUND = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="%"), max_size=8
)
# Phone numbers as people write them: +55 (21) 99999-9999 and the like, by their digits.
PHONES = st.from_regex(r"55[1-9]{2}9?[0-9]{8}", fullmatch=True)
STAMPS = st.sampled_from(["2020-01-31T14:13:29.669Z", "1580480009669", "2020-01-31 14:13", ""])


def written(phone: str, style: int) -> str:
    if style == 0:
        return phone
    if style == 1:
        return f"+{phone[:2]} ({phone[2:4]}) {phone[4:-4]}-{phone[-4:]}"
    return " ".join(phone[i : i + 3] for i in range(0, len(phone), 3))


def digits_of(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


def every_byte(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def encoded(pairs: list[tuple[str, str]], how: int) -> str:
    """The query as a client sends it: urlencoded (0), every byte %-escaped (1), or not
    encoded at all, spaces and all (2)."""
    if how == 0:
        return urlencode(pairs)
    if how == 1:
        return "&".join(f"{every_byte(name)}={every_byte(value)}" for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in pairs)


@settings(max_examples=200)
@given(
    secret=SECRETS,
    before=AROUND,
    after=AROUND,
    name=NAMES,
    in_name=st.booleans(),
    how=st.integers(0, 2),
    others=st.lists(st.tuples(NAMES, st.text(BASE62, max_size=8)), max_size=3),
)
@example(credentials.generate(credentials.CUSTOMER_KEY), "", "", "x-api-key", False, 0, [])
def test_a_secret_anywhere_in_the_query_is_never_logged(
    secret: str,
    before: str,
    after: str,
    name: str,
    in_name: bool,
    how: int,
    others: list[tuple[str, str]],
) -> None:
    pair = (before + secret + after, "1") if in_name else (name, before + secret + after)
    logged = redact_query(encoded([*others, pair], how))
    body = secret[secret.index("_", 4) + 1 :]
    assert body not in unquote_plus(logged) and body not in logged
    # Unencoded (2), an "&" before the secret splits it off into a pair of its own.
    if not in_name and name in SHOWN_PARAMETERS and not (how == 2 and "&" in before):
        # The prefix stays where values are shown: an operator sees that a key was sent
        # where none belongs (other parameters' values are masked whole).
        assert secret[: secret.index("_", 4) + 1] + "***" in unquote_plus(logged)


@given(secret=SECRETS, before=st.text("/abc", max_size=6))
def test_a_secret_in_the_path_is_never_logged(secret: str, before: str) -> None:
    body = secret[secret.index("_", 4) + 1 :]
    assert body not in redact_secrets(f"/customers/{before}{secret}/logs")


@settings(max_examples=200)
@given(
    phone=PHONES,
    style=st.integers(0, 2),
    stamp=STAMPS,
    form=st.sampled_from(["card:{}@{}", " card:{}@{}", "card:{}", "card:{}@x@{}", "id:card:{}@{}"]),
    how=st.integers(0, 2),
    with_token=st.booleans(),
)
@example(phone="5521999999999", style=0, stamp="", form="card:{}", how=0, with_token=False)
def test_a_card_after_never_logs_the_whole_number(
    phone: str, style: int, stamp: str, form: str, how: int, with_token: bool
) -> None:
    value = form.format(written(phone, style), stamp)
    pairs = [("token", "atl_dlr_x")] if with_token else []
    logged = redact_query(encoded([*pairs, ("after", value)], how))
    assert phone not in digits_of(unquote_plus(logged))


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        ("call_id=atl_live_0123456789abcdefghijklABCDEF", [("call_id", "atl_live_***")]),
        ("key=atl_live_0123456789abcdefghijklABCDEF", [("key", "***")]),
        ("atl_ing_0123456789abcdefghijklABCDEF", [("***", "***")]),
        ("atl_ing_abcdefghijklABCDEF", [("atl_ing_***", "***")]),  # a word: shown, cut
        ("size=atl_dlr_atl_live_0123456789abcdefghijklABCDEF", [("size", "atl_dlr_***_live_***")]),
        ("after=card:5521999999999", [("after", "card:***@")]),
        ("after=+card:5521999999999@1580480009669", [("after", "card:***@1580480009669")]),
    ],
)
def test_what_a_masked_query_shows(query: str, logged: list[tuple[str, str]]) -> None:
    assert parse_qsl(redact_query(query), keep_blank_values=True) == logged


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


@pytest.fixture(scope="module")
def caller(store: Store) -> Caller:
    return new_caller(store)


CARDS = "/customers/dialer-queue/cards"


@settings(max_examples=25)
@given(phone=PHONES, style=st.integers(0, 2), where=st.sampled_from(["number", "after", "extra"]))
def test_no_request_logs_a_key_a_token_or_a_phone_number(
    client: TestClient, caller: Caller, phone: str, style: int, where: str
) -> None:
    params = [("token", caller.token)]
    if where == "number":
        params.append(("number", written(phone, style)))
    elif where == "after":
        params.append(("after", f"card:{written(phone, style)}@1580480009669"))
    else:  # a key sent where none belongs: an unknown parameter, refused with 400
        params += [("api_key", caller.api_key), ("number", phone)]
    headers = {"x-api-key": caller.api_key, "x-ingest-key": caller.ingest_key}
    with access_log() as lines:
        response = client.get(CARDS, params=params, headers=headers)
        client.get(f"/customers/{quote(caller.api_key)}", headers=headers)
    assert response.status_code in (200, 400)
    assert len(lines) == 2
    for line in lines:
        for secret in (caller.api_key, caller.ingest_key, caller.token):
            assert secret[-20:] not in line
        assert phone not in digits_of(line)
