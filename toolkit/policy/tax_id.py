"""Tax ids of the company that collects: CNPJ and CPF (Brazil, with check digits), EIN (US, by format).

CDC art. 42-A requires every collection document in Brazil to show the supplier's
name, address and CPF or CNPJ; a mistyped number on every message is worse than
none, so the check digits are verified before anything is sent.
"""

from __future__ import annotations

import re

_EIN = re.compile(r"^\d{2}-?\d{7}$")


def digits_of(text: str) -> str:
    """The digits of a tax id written with dots, dashes, slashes or spaces."""
    return "".join(ch for ch in text if ch.isdigit())


def _check_digit(digits: str, weights: list[int]) -> int:
    remainder = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def cpf_valid(text: str) -> bool:
    """A CPF: 11 digits, the last two check digits (mod 11), not all the same digit."""
    digits = digits_of(text)
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    first = _check_digit(digits[:9], list(range(10, 1, -1)))
    second = _check_digit(digits[:10], list(range(11, 1, -1)))
    return digits[9:] == f"{first}{second}"


def cnpj_valid(text: str) -> bool:
    """A CNPJ: 14 digits, the last two check digits (mod 11, weights 5..2,9..2), not all the same digit."""
    digits = digits_of(text)
    if len(digits) != 14 or len(set(digits)) == 1:
        return False
    weights = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    first = _check_digit(digits[:12], weights)
    second = _check_digit(digits[:13], [6, *weights])
    return digits[12:] == f"{first}{second}"


def ein_valid(text: str) -> bool:
    """A US Employer Identification Number: nine digits, written 12-3456789 (no check digit exists)."""
    return bool(_EIN.match(text.strip()))


def tax_id_problem(tax_id: str, country: str) -> str | None:
    """What is wrong with ``tax_id`` for ``country`` (two letters), or None when it is right or cannot be checked."""
    text = tax_id.strip()
    if not text:
        return None
    if country == "BR":
        digits = digits_of(text)
        if len(digits) == 14:
            return None if cnpj_valid(text) else "is not a valid CNPJ (its check digits do not match)"
        if len(digits) == 11:
            return None if cpf_valid(text) else "is not a valid CPF (its check digits do not match)"
        return "must be a CNPJ (14 digits, 12.345.678/0001-95) or a CPF (11 digits, 123.456.789-09)"
    if country == "US" and not ein_valid(text):
        return "must be an EIN written 12-3456789"
    return None
