"""Turning cell values into dates, money, days and addresses, with a reason when that fails."""

from __future__ import annotations

import functools
import math
import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

from email_validator import EmailNotValidError, validate_email

from toolkit.text import clip
from toolkit.xlsx.scan import EPOCH_1900

# Day 0 of Excel's (and Google Sheets') date serial numbers.
EXCEL_EPOCH = EPOCH_1900
# Serials of 1950-01-01 .. 2100-01-01: a number in a date column in that range is a
# date (whose cell lost its date format, or read unformatted from Google Sheets).
_SERIAL_MIN, _SERIAL_MAX = 18264, 73051
_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_CURRENCY_NOISE = re.compile(r"[^\d,.\-()]")
_FIRST_NUMBER = re.compile(r"\d+")


class ValueProblem(Exception):
    """Why a value could not be understood; the message is shown in the finding."""


def is_date_serial(value: object) -> TypeGuard[int | float]:
    """Whether a cell value is a number in the range of date serials taken for dates (1950..2100)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and _SERIAL_MIN <= value <= _SERIAL_MAX


def serial_to_datetime(serial: float) -> datetime:
    """The moment an Excel/Google Sheets date serial stands for (1900 date system)."""
    return EXCEL_EPOCH + timedelta(days=serial)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def to_text(value: Any) -> str | None:
    """A cell as clean text, or None when blank. Numbers like 1001.0 read as '1001'."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    return str(value).strip()


def to_date(value: Any, strptime_format: str, shown_format: str) -> tuple[date, str | None]:
    """A date from a real date cell, a text date in the manual's format or ISO, or a bare serial.

    Returns the date and a warning when the cell would better be typed as a real date.
    """
    if isinstance(value, datetime):
        return value.date(), None
    if isinstance(value, date):
        return value, None
    if isinstance(value, bool):
        raise ValueProblem(f"{value!r} is not a date")
    if isinstance(value, int | float):
        if is_date_serial(value):
            return serial_to_datetime(
                int(value)
            ).date(), "is a number shown without a date format; format the cell as a date"
        raise ValueProblem(f"{value!r} is not a date")
    text = str(value).strip()
    for fmt in (strptime_format, "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date(), None
        except ValueError:
            continue
    if _looks_like(text, strptime_format) or _ISO.match(text):
        raise ValueProblem(f"'{clip(text)}' is not a real date (no such day in the calendar)")
    raise ValueProblem(f"'{clip(text)}' is not a date in the format {shown_format} (or YYYY-MM-DD)")


def _looks_like(text: str, strptime_format: str) -> bool:
    """Whether text has the shape of the format (digits where the format has numbers)."""
    pattern = re.escape(strptime_format)
    for token, digits in (("%d", r"\d{1,2}"), ("%m", r"\d{1,2}"), ("%Y", r"\d{4}"), ("%y", r"\d{2}")):
        pattern = pattern.replace(re.escape(token), digits)
    return re.fullmatch(pattern, text) is not None


def to_money(value: Any, decimal_symbol: str = ".") -> tuple[Decimal, bool]:
    """A money amount; the flag says it was typed as text (and so parsed from text)."""
    if type(value) is float and math.isfinite(value):  # the common case first
        return Decimal(repr(value)), False
    if isinstance(value, (bool, date)):  # a datetime is a date too
        raise ValueProblem(f"{to_text(value)!r} is not a number")
    if isinstance(value, int):
        return Decimal(value), False
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueProblem(f"{value!r} is not a number")
        return Decimal(repr(value)), False
    text = str(value).strip()
    cleaned = _CURRENCY_NOISE.sub("", text)
    negative = cleaned.startswith("(") and cleaned.endswith(")")
    cleaned = cleaned.strip("()")
    if decimal_symbol == ",":
        cleaned = cleaned.replace(".", "").replace(",", ".")
    else:
        cleaned = cleaned.replace(",", "")
    if not cleaned or not any(ch.isdigit() for ch in cleaned):
        raise ValueProblem(f"'{clip(text)}' is not a number")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise ValueProblem(f"'{clip(text)}' is not a number") from None
    if not amount.is_finite():
        raise ValueProblem(f"'{clip(text)}' is not a number")
    return (-amount if negative else amount), True


def to_days(value: Any) -> int | None:
    """Payment terms in days: 30, '30', 'Net 30', '30 dias', '30/60/90' (the longest)."""
    if is_blank(value) or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if math.isfinite(value) else None  # NaN or infinity: no terms to read
    numbers = [int(n) for n in _FIRST_NUMBER.findall(str(value)) if len(n) <= 9]  # more digits: not days
    return max(numbers) if numbers else None


@functools.lru_cache(maxsize=65536)
def check_email(value: str) -> str | None:
    """The reason an address is not usable, or None when it is one valid address.

    Cached: a customer's address comes back on every one of its invoices, and the
    full check (international domain rules) is the slowest step of a row.
    """
    if any(ch in value for ch in "\r\n"):
        return "holds a line break"
    if re.search(r"[;,\s]", value.strip()) and value.count("@") > 1:
        return "holds more than one address; keep one address per invoice"
    try:
        validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc).rstrip(".")
    return None


def money_text(amount: Decimal) -> str:
    """Plain money for messages: 1,234.56."""
    return f"{amount:,.2f}"


@functools.lru_cache(maxsize=65536)  # a customer's address is on each of its invoices
def ascii_email(value: str) -> str | None:
    """The address in the form every mail server takes: an accented domain in its ``xn--`` form.

    None when the part before the @ has non-ASCII letters (only servers offering
    SMTPUTF8 take those) or when it is not one valid address.
    """
    try:
        return validate_email(value.strip(), check_deliverability=False).ascii_email
    except EmailNotValidError:
        return None
