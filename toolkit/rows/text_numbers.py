"""Amounts typed as text, read the way the manual's locale writes numbers, or refused: never guessed.

``1.234,56`` is 1234.56 in pt_BR and ``1,234.56`` is in en_US; ``R$ 500,00``, ``$1,234.50``,
``(1.234,56)`` and ``500,00 BRL`` carry a currency and a sign around the number. A text the
locale cannot read as one number (``1.234,5`` in en_US: a group of one digit after a
thousands separator) is refused with a message naming the locale and what to do, because
any reading of it would be a guess. The symbols and digit grouping come from Babel's CLDR data.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel import Locale
from babel.numbers import get_decimal_symbol, get_group_symbol

from toolkit.text import clip

_DIGITS = frozenset("0123456789")
_SPACES = " \u00a0\u202f\u2009\t"
_APOSTROPHES = "'\u2019"
_SEPARATORS = frozenset(".," + _APOSTROPHES + _SPACES)
# A currency code or abbreviation at either end: USD, BRL, R (of R$), Rs.
_EDGE_LETTERS = re.compile(r"^[^\W\d_]{1,3}\.?|[^\W\d_]{1,3}\.?$")
_MINUS = "-\u2212"


class NotANumber(ValueError):
    """Why a text is not a number; the message is shown in the finding."""


@dataclass(frozen=True)
class LocaleNumbers:
    """How a locale writes numbers: its decimal and group symbols and digit grouping."""

    locale: str
    decimal: str
    group: str
    grouping: tuple[int, int]  # digits in the last group, and in the groups before it (3, 2 for en_IN)

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def of(locale: str) -> LocaleNumbers:
        """The number symbols of a locale such as ``pt_BR`` (looked up once per locale)."""
        group = get_group_symbol(locale)
        grouping = Locale.parse(locale).decimal_formats[None].grouping
        return LocaleNumbers(locale, get_decimal_symbol(locale), group, (grouping[0], grouping[1]))

    def parse(self, text: str) -> Decimal:
        """The number a text stands for in this locale; ``NotANumber`` when it is none, or not one for sure."""
        core, negative = _strip_currency_and_sign(text.strip())
        if not core or any(ch not in _DIGITS and ch not in _SEPARATORS for ch in core):
            raise NotANumber(f"'{clip(text)}' is not a number")
        if not any(ch in _DIGITS for ch in core):
            raise NotANumber(f"'{clip(text)}' is not a number")
        whole, fraction = self._split(core, text)
        try:
            amount = Decimal(f"{whole or '0'}.{fraction}" if fraction else whole)
        except InvalidOperation:
            raise NotANumber(f"'{clip(text)}' is not a number") from None
        return -amount if negative else amount

    def _split(self, core: str, text: str) -> tuple[str, str]:
        """The digits before and after the decimal symbol, the group symbols checked and dropped."""
        group = self.group
        if group in _SPACES:
            core = "".join(group if ch in _SPACES else ch for ch in core)
        elif group in _APOSTROPHES:
            core = "".join(group if ch in _APOSTROPHES else ch for ch in core)
        if any(ch not in _DIGITS and ch not in (self.decimal, group) for ch in core):
            raise self._unreadable(text)
        parts = core.split(self.decimal)
        if len(parts) > 2 or (len(parts) == 2 and group in parts[1]):
            raise self._unreadable(text)
        whole, fraction = parts[0], parts[1] if len(parts) == 2 else ""
        if group in whole:
            groups = whole.split(group)
            last, secondary = self.grouping
            middle_ok = all(len(g) in (last, secondary) for g in groups[1:-1])
            if not (1 <= len(groups[0]) <= max(last, secondary) and len(groups[-1]) == last and middle_ok):
                raise self._unreadable(text)
        return whole.replace(group, ""), fraction

    def _unreadable(self, text: str) -> NotANumber:
        return NotANumber(
            f"'{clip(text)}' is not a number in {self.locale}; type it as a number or set [company] locale"
        )


def _strip_currency_and_sign(text: str) -> tuple[str, bool]:
    """The number part of a text amount, and whether it is negative: ``(R$ -1.234,56)`` gives ``1.234,56``."""
    negative = False
    if len(text) > 1 and text[0] == "(" and text[-1] == ")":
        negative, text = True, text[1:-1]
    text = "".join(" " if unicodedata.category(ch) == "Sc" else ch for ch in text)
    for _ in range(2):  # a sign and a currency, in either order
        text = text.strip(_SPACES)
        if text[:1] in _MINUS and text:
            negative, text = not negative, text[1:]
        elif text[-1:] in _MINUS and text:
            negative, text = not negative, text[:-1]
        elif text[:1] == "+":
            text = text[1:]
        text = _EDGE_LETTERS.sub("", text.strip(_SPACES))
    return text.strip(_SPACES), negative
