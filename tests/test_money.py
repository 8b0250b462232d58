"""The fast money formatter writes exactly what Babel's format_currency writes."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from babel.numbers import format_currency
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.money import CurrencyFormat


def outcome(call: Callable[[], str]) -> str:
    """The text, or the kind of error (too many digits for the decimal context): both sides must agree."""
    try:
        return call()
    except ArithmeticError as exc:
        return type(exc).__name__


SHIPPED = [("en_US", "USD"), ("pt_BR", "BRL")]
# Other shapes a company could configure: suffix symbols, other separators, 3/2 grouping,
# no decimals, a separate negative pattern, right-to-left marks.
OTHERS = [
    ("fr_FR", "EUR"),
    ("de_DE", "EUR"),
    ("de_CH", "CHF"),
    ("nl_NL", "EUR"),
    ("en_IN", "INR"),
    ("ja_JP", "JPY"),
    ("ar_EG", "EGP"),
    ("he_IL", "ILS"),
    ("pt_PT", "EUR"),
    ("es_MX", "MXN"),
    ("en_US", "BRL"),
    ("pt_BR", "USD"),
    ("en_GB", "KWD"),
]

EDGES = [
    "0",
    "-0",
    "0.00",
    "0.001",
    "-0.001",
    "0.005",
    "0.015",
    "0.025",
    "-0.005",
    "0.994",
    "0.995",
    "0.999",
    "1",
    "-1",
    "9.995",
    "999.995",
    "1000",
    "1234.56",
    "-1234.56",
    "1234.5",
    "100000",
    "123456.789",
    "1234567.891",
    "-98765432.10",
    "1E+3",
    "1.00E+6",
    "12345678901234567890.12",
    "99999999999999999999999999.99",
    "0.0000001",
    "5E-10",
]


@pytest.mark.parametrize(("locale", "currency"), SHIPPED + OTHERS)
def test_edge_values_match_babel(locale: str, currency: str) -> None:
    """Zero, negative zero, half-cent rounding, large and tiny values: the same text as Babel."""
    fmt = CurrencyFormat(locale, currency)
    for text in EDGES:
        amount = Decimal(text)
        expected = outcome(lambda: format_currency(amount, currency, locale=locale))  # noqa: B023
        assert outcome(lambda: fmt.format(amount)) == expected, (locale, text)  # noqa: B023


def test_the_shipped_locales_take_the_fast_path() -> None:
    """en_US/USD and pt_BR/BRL never need Babel per call."""
    assert all(CurrencyFormat(locale, currency).fast for locale, currency in SHIPPED)


amounts = st.decimals(
    min_value=Decimal("-1e15"), max_value=Decimal("1e15"), allow_nan=False, allow_infinity=False, places=None
)


@settings(max_examples=400, deadline=None)
@given(amount=amounts, pair=st.sampled_from(SHIPPED + OTHERS))
def test_any_amount_matches_babel(amount: Decimal, pair: tuple[str, str]) -> None:
    """Any decimal amount, positive or negative, any precision, in many locales: the same text as Babel."""
    locale, currency = pair
    assert CurrencyFormat(locale, currency).format(amount) == format_currency(amount, currency, locale=locale)


@settings(max_examples=300, deadline=None)
@given(cents=st.integers(min_value=-(10**14), max_value=10**14), pair=st.sampled_from(SHIPPED))
def test_amounts_in_cents_match_babel(cents: int, pair: tuple[str, str]) -> None:
    """Money as a sheet holds it (two decimals), in the shipped locales: the same text as Babel."""
    locale, currency = pair
    amount = Decimal(cents).scaleb(-2)
    assert CurrencyFormat(locale, currency).format(amount) == format_currency(amount, currency, locale=locale)


def test_values_that_are_not_decimals_go_to_babel() -> None:
    """An int, a float or infinity is formatted (or refused) by Babel itself."""
    fmt = CurrencyFormat("en_US", "USD")
    assert fmt.format(12) == "$12.00"  # type: ignore[arg-type]
    assert fmt.format(Decimal("Infinity")) == format_currency(Decimal("Infinity"), "USD", locale="en_US")
