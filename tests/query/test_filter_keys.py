"""The keys filters compare (issue 21, 1c): phone numbers as a Brazilian writes them, the
decimal comma, Unicode NFC, extensions as numbers. docs/api.md ("Filters") states each rule;
tests/http/test_search.py checks them through the API on both databases."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atende_logs import normalize
from atende_logs.errors import ParameterError
from atende_logs.kinds import ATTENDANT_LOGS, CARDS, CDRS, KINDS, Kind
from atende_logs.models import SearchQuery
from atende_logs.query.parse import parse_search
from atende_logs.redaction import erasure_key

area_codes = st.integers(11, 99).filter(lambda n: n % 10 != 0).map(str)
subscribers = st.from_regex(r"9[0-9]{8}", fullmatch=True) | st.from_regex(
    r"[2-5][0-9]{7}", fullmatch=True
)
national_numbers = st.builds(lambda ddd, sub: ddd + sub, area_codes, subscribers)
separators = st.sampled_from(["", " ", "-", ".", " - "])


@st.composite
def spellings(draw: st.DrawFn, national: str) -> str:
    """``national`` as people and systems write it: country code, trunk and carrier
    prefixes, parentheses, separators."""
    ddd, sub = national[:2], national[2:]
    prefix = draw(
        st.sampled_from(
            ["", "0", "55", "+55", "+55 ", "0055 ", "+ 55 ", "055 ", "0 15 ", "0xx", "0 21 "]
        )
    )
    area = draw(st.sampled_from([ddd, f"({ddd})", f"({ddd}) ", f"{ddd} ", f"{ddd}-"]))
    cut = draw(st.integers(0, len(sub)))
    return f"{prefix}{area}{sub[:cut]}{draw(separators)}{sub[cut:]}"


def query(kind: Kind, *pairs: tuple[str, str]) -> SearchQuery:
    token = [("token", "t")] if kind.scope.by_dialer else []
    return parse_search(kind, [*token, *pairs], customer_id=1, default_tz="America/Sao_Paulo")


def key_of(kind: Kind, param: str, raw: str) -> object:
    (condition,) = query(kind, (param, raw)).conditions
    return condition.value


# --- phone numbers --------------------------------------------------------------------------


@given(data=st.data(), national=national_numbers)
def test_every_spelling_of_a_brazilian_number_has_its_national_digits_as_key(
    data: st.DataObject, national: str
) -> None:
    spelled = data.draw(spellings(national))
    assert normalize.phone(spelled) == national
    assert normalize.phone(int("55" + national)) == national  # a JSON number
    assert erasure_key(spelled) == national  # erasure and the filters agree
    for kind, param in ((ATTENDANT_LOGS, "ani"), (CDRS, "alt_dnis"), (CARDS, "number")):
        assert key_of(kind, param, spelled) == national


@given(national=national_numbers)
def test_the_ninth_digit_is_left_alone(national: str) -> None:
    """With and without the mobile's ninth digit are two numbers: nothing adds or drops it."""
    if len(national) == 11:
        shorter = national[:2] + national[3:]
        assert normalize.phone(shorter) == shorter != normalize.phone(national)


@pytest.mark.parametrize(
    "spelled",
    [
        "5508008870608",  # the spec's dnis and alt_dnis
        "08008870608",
        "0800 887 0608",
        "0800-887-0608",
        "+55 (0800) 887-0608",
        "+55 800 887 0608",  # from abroad, without the 0
        "55 0800 887 0608",
        "8008870608",
    ],
)
def test_0800_numbers_keep_their_zero_however_written(spelled: str) -> None:
    assert normalize.phone(spelled) == "08008870608"
    assert normalize.phone_number(spelled).sort == "non_geographic"


@pytest.mark.parametrize(
    ("spelled", "key"),
    [
        ("5563984866338", "63984866338"),  # the spec's ani
        ("5521999999999", "21999999999"),  # the spec's card number
        ("5590900513130", "5590900513130"),  # the spec's attendant_ani: no area code 90
        ("0300 789 0000", "03007890000"),
        ("0500 123 4567", "05001234567"),
        ("0303 123 4567", "03031234567"),
        ("+1 (415) 555-0123", "14155550123"),  # foreign: country code and number
        ("0014155550123", "14155550123"),
        ("19", "19"),  # an extension: its digits
        ("130", "130"),
        ("4004-0001", "40040001"),  # a capital number without an area code
        ("190", "190"),
        ("+55 130", "55130"),
        ("(10) 98765-4321", "1098765" + "4321"),  # no area code starts 10: its digits
    ],
)
def test_phone_keys(spelled: str, key: str) -> None:
    assert normalize.phone(spelled) == key


@pytest.mark.parametrize(("kind", "param"), [(ATTENDANT_LOGS, "ani"), (CDRS, "alt_dnis")])
def test_the_spec_examples_still_match_themselves(kind: Kind, param: str) -> None:
    example = {"ani": "5563984866338", "alt_dnis": "5508008870608"}[param]
    spec = kind.filter(param)
    assert spec is not None
    doc_key = spec.key(example)
    assert key_of(kind, param, example) == doc_key is not None


@given(text=st.text() | st.text(alphabet=st.sampled_from("0123456789 +()-.x")))
def test_a_phone_key_is_digits_never_an_error(text: str) -> None:
    """Any value at ingest gets a key (or none, without a digit): nothing raises."""
    key = normalize.phone(text)
    if not any(char in "0123456789" for char in text):
        assert key is None
    else:
        assert key is not None and key.isascii() and key.isdigit()
        assert key in (normalize.digits(text) or "") or key.startswith("0")


# --- decimals -------------------------------------------------------------------------------

AMOUNTS = st.decimals(min_value=-(10**12), max_value=10**12, places=4, allow_nan=False)


@given(amount=AMOUNTS)
def test_the_decimal_comma_is_the_decimal_point(amount: Decimal) -> None:
    fixed = format(amount, "f")
    assert normalize.decimal_key(fixed.replace(".", ",")) == normalize.decimal_key(fixed)
    assert normalize.decimal_key(fixed) == normalize.decimal_key(amount)
    assert key_of(CDRS, "total_charge", fixed.replace(".", ",")) == normalize.decimal_key(amount)
    assert normalize.number(fixed.replace(".", ",")) == float(fixed)


@pytest.mark.parametrize("raw", ["1e2", "1E+2", "1.234,56", "1,234.56", "1_000", "1,2", "NaN"])
@pytest.mark.parametrize(("kind", "param"), [(CDRS, "total_charge"), (ATTENDANT_LOGS, "duration")])
def test_exponents_and_thousands_separators_are_refused(kind: Kind, param: str, raw: str) -> None:
    if raw == "1,2":  # one comma is the decimal comma: read, not refused
        assert key_of(kind, param, raw) in ("1.2", 1.2)
        return
    with pytest.raises(ParameterError) as refused:
        query(kind, (param, raw))
    assert refused.value.parameter == param
    assert "expoente" in str(refused.value)


def test_a_stored_amount_with_a_comma_gets_the_same_key() -> None:
    spec = CDRS.filter("total_charge")
    assert spec is not None
    doc = {"total_charge": "1,35"}
    assert spec.key(spec.extract(doc)) == key_of(CDRS, "total_charge", "1.35") == "1.35"
    assert spec.key(spec.extract({"total_charge": 1.35})) == "1.35"


# --- Unicode normalisation ------------------------------------------------------------------

TEXT_FILTERS = [
    pytest.param(kind, spec.param, id=f"{kind.name}-{spec.param}")
    for kind in KINDS.values()
    for spec in kind.filters
    if spec.key in (normalize.exact, normalize.fold, normalize.extension)
]


@pytest.mark.parametrize(("kind", "param"), TEXT_FILTERS)
@given(text=st.text(st.characters(exclude_characters="\x00"), min_size=1).filter(
    lambda text: text == text.strip() != ""  # fold filters drop blanks around a value sent
))  # fmt: skip
def test_composed_and_decomposed_text_are_one_key(kind: Kind, param: str, text: str) -> None:
    spec = kind.filter(param)
    assert spec is not None
    composed, decomposed = (unicodedata.normalize(form, text) for form in ("NFC", "NFD"))
    key = spec.key(decomposed)
    assert key == spec.key(composed) == key_of(kind, param, composed)
    assert key == key_of(kind, param, decomposed)
    assert isinstance(key, str) and unicodedata.is_normalized("NFC", key)


def test_nao_in_both_forms() -> None:
    assert normalize.exact("NA\u0303O") == normalize.exact("N\u00c3O") == "N\u00c3O"
    assert normalize.fold("JOA\u0303O") == normalize.fold("jo\u00e3o") == "jo\u00e3o"
    assert normalize.exact("\u212b") == "\u00c5"  # the ångström sign is Å in NFC


# --- extensions -----------------------------------------------------------------------------


@given(number=st.integers(0, 10**9), zeros=st.integers(0, 4))
def test_an_extension_of_digits_is_a_number(number: int, zeros: int) -> None:
    padded = "0" * zeros + str(number)
    assert normalize.extension(padded) == normalize.extension(number) == str(number)
    assert key_of(ATTENDANT_LOGS, "extension_number", padded) == str(number)


@pytest.mark.parametrize(
    ("value", "key"),
    [("019", "19"), (19, "19"), (19.0, "19"), ("000", "0"), ("19a", "19a"), (" 19", " 19"),
     ("-19", "-19"), ("ramal 19", "ramal 19"), ("١٩", "١٩")],
)  # fmt: skip
def test_extension_keys(value: object, key: str) -> None:
    assert normalize.extension(value) == key
