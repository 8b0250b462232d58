"""Money written the way a locale writes it, fast enough for every line of every reminder.

``babel.numbers.format_currency`` looks up the locale's pattern and symbols on
every call (about 30 µs); a run with 70,000 invoice lines calls it 200,000 times.
``CurrencyFormat`` reads the same CLDR data from Babel once per (locale, currency)
and then only rounds and groups digits. It gives the very string
``format_currency(amount, currency, locale=locale)`` gives (tests/test_money.py
compares the two over many values and locales); for the rare pattern it does not
cover (significant digits, scientific, percent, quotes, a currency's plural name)
it simply calls Babel.
"""

from __future__ import annotations

import functools
from decimal import Decimal, InvalidOperation

from babel import Locale
from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_group_symbol,
)


class CurrencyFormat:
    """``format(amount)`` equals ``format_currency(amount, currency, locale=locale)``, computed once per locale."""

    def __init__(self, locale: str, currency: str) -> None:
        self.locale = locale
        self.currency = currency
        pattern = Locale.parse(locale).currency_formats["standard"]
        symbol = get_currency_symbol(currency, locale)
        self._group = get_group_symbol(locale)
        self._decimal = get_decimal_symbol(locale)
        self._grouping = pattern.grouping
        self._min_int = pattern.int_prec[0]
        self._digits = get_currency_precision(currency)  # format_currency's currency_digits=True
        self._quantum = Decimal(1).scaleb(-self._digits)
        affixes = []
        for negative in (0, 1):
            text = pattern.prefix[negative] + "\0" + pattern.suffix[negative]
            text = text.replace("¤¤", currency.upper()).replace("¤", symbol)
            affixes.append(tuple(text.split("\0")))
        (self._prefix, self._suffix), (self._neg_prefix, self._neg_suffix) = affixes
        # Babel's own steps that the fast path does not repeat: quotes in the pattern are
        # unquoted over the whole result, '¤¤¤' is a plural name, '@'/E/% scale or round otherwise.
        self.fast = not (
            pattern.exp_prec
            or "@" in pattern.pattern
            or pattern.scale
            or not pattern.number_pattern
            or "¤¤¤" in pattern.pattern
            or any("'" in text for text in (*pattern.prefix, *pattern.suffix, symbol, self._group, self._decimal))
            or "\0" in symbol
        )

    def format(self, amount: Decimal) -> str:
        """``$1,234.56`` for en_US/USD, ``R$ 1.234,56`` (no-break space) for pt_BR/BRL."""
        if not self.fast or not isinstance(amount, Decimal) or not amount.is_finite():
            return format_currency(amount, self.currency, locale=self.locale)
        number = self._digits_of(abs(amount))
        if number is None:  # more digits than the decimal context holds: Babel says what to do
            return format_currency(amount, self.currency, locale=self.locale)
        if amount.is_signed():
            return str(self._neg_prefix + number + self._neg_suffix)
        return str(self._prefix + number + self._suffix)

    def number(self, amount: Decimal) -> str:
        """An amount without its currency, for messages: ``-1,234.56`` in en_US, ``-1.234,56`` in pt_BR."""
        if isinstance(amount, Decimal) and amount.is_finite():
            digits = self._digits_of(abs(amount))
            if digits is not None:
                return ("-" if amount.is_signed() and amount else "") + digits
            # More digits than the decimal context rounds (Babel cannot either): Python's own grouping.
            plain = f"{amount:,.{self._digits}f}"
            return plain.translate({ord(","): self._group, ord("."): self._decimal})
        return str(format_decimal(amount, locale=self.locale))

    def _digits_of(self, amount: Decimal) -> str | None:
        """A non-negative amount rounded to the currency's digits and grouped as the locale groups them."""
        try:
            rounded = amount.normalize().quantize(self._quantum)
        except InvalidOperation:
            return None
        whole, _, fraction = f"{rounded:f}".partition(".")
        if len(whole) < self._min_int:
            whole = "0" * (self._min_int - len(whole)) + whole
        size, grouped = self._grouping[0], ""
        while len(whole) > size:
            grouped = self._group + whole[-size:] + grouped
            whole = whole[:-size]
            size = self._grouping[1]
        number = whole + grouped
        if self._digits:
            number += self._decimal + fraction.ljust(self._digits, "0")
        return number


@functools.lru_cache(maxsize=16)
def currency_format(locale: str, currency: str) -> CurrencyFormat:
    """The ``CurrencyFormat`` of a locale and currency, built once however often it is asked for."""
    return CurrencyFormat(locale, currency)
