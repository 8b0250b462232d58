"""Turning cell values into dates, money, days and addresses, with a reason when that fails."""

from __future__ import annotations

import functools
import math
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeGuard

from email_validator import EmailNotValidError, validate_email

from toolkit.rows.text_numbers import LocaleNumbers, NotANumber
from toolkit.text import clip
from toolkit.xlsx.scan import EPOCH_1900, EPOCH_1904

# Day 0 of Excel's (and Google Sheets') date serial numbers.
EXCEL_EPOCH = EPOCH_1900
# Serials of 1950-01-01 .. 2100-01-01: a number in a date column in that range is a
# date (whose cell lost its date format, or read unformatted from Google Sheets).
_SERIAL_MIN, _SERIAL_MAX = 18264, 73051
# A workbook saved with the 1904 date system (Mac Excel) counts from 1904-01-01: 1,462 days later.
_DAYS_1900_TO_1904 = (EPOCH_1904 - EPOCH_1900).days
_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_FIRST_NUMBER = re.compile(r"\d+")


# The warning for a date typed as text: read, but the sheet cannot sort, filter or compute with it.
TEXT_DATE_NOTE = "is typed as text; type it as a date so the sheet can sort and filter by it"


class ValueProblem(Exception):
    """Why a value could not be understood; the message is shown in the finding."""


def is_date_serial(value: object, date1904: bool = False) -> TypeGuard[int | float]:
    """Whether a cell value is a number in the range of date serials taken for dates (1950..2100)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    shift = _DAYS_1900_TO_1904 if date1904 else 0
    return _SERIAL_MIN - shift <= value <= _SERIAL_MAX - shift


def serial_to_datetime(serial: float, date1904: bool = False) -> datetime:
    """The moment an Excel/Google Sheets date serial stands for, in the workbook's date system."""
    return (EPOCH_1904 if date1904 else EXCEL_EPOCH) + timedelta(days=serial)


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


def to_date(value: Any, strptime_format: str, shown_format: str, date1904: bool = False) -> tuple[date, str | None]:
    """A date from a real date cell, a text date in the manual's format or ISO, or a bare serial.

    Returns the date and a warning when the cell would better be typed as a real date
    (a bare serial, or text: ``TEXT_DATE_NOTE``).
    A bare serial counts from the workbook's epoch (``date1904``: the 1904 date system).
    """
    if isinstance(value, datetime):
        return value.date(), None
    if isinstance(value, date):
        return value, None
    if isinstance(value, bool):
        raise ValueProblem(f"{value!r} is not a date")
    if isinstance(value, int | float):
        if is_date_serial(value, date1904):
            return serial_to_datetime(
                int(value), date1904
            ).date(), "is a number shown without a date format; format the cell as a date"
        raise ValueProblem(f"{value!r} is not a date")
    text = str(value).strip()
    for fmt in (strptime_format, "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date(), TEXT_DATE_NOTE
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


def to_money(value: Any, numbers: LocaleNumbers | None = None) -> tuple[Decimal, bool]:
    """A money amount; the flag says it was typed as text (and so read as ``numbers``' locale writes it).

    ``numbers`` defaults to en_US. A text the locale cannot read as one number is a ``ValueProblem``.
    """
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
    try:
        amount = (numbers or LocaleNumbers.of("en_US")).parse(str(value))
    except NotANumber as problem:
        raise ValueProblem(str(problem)) from None
    return amount, True


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
    return _validated(value.strip())[0]


@functools.lru_cache(maxsize=65536)  # a customer's address is on each of its invoices
def ascii_email(value: str) -> str | None:
    """The address in the form every mail server takes: an accented domain in its ``xn--`` form.

    None when the part before the @ has non-ASCII letters (only servers offering
    SMTPUTF8 take those) or when it is not one valid address.
    """
    return _validated(value.strip())[1]


@functools.lru_cache(maxsize=65536)
def _validated(address: str) -> tuple[str | None, str | None]:
    """``(why the address is not valid, None)`` or ``(None, its ASCII form)``: one full check per address a run.

    ``check_email`` (reading the rows) and ``ascii_email`` (planning the reminders) both
    need it; the check, with its international domain rules, is the slow part of each.
    """
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc).rstrip("."), None
    return None, checked.ascii_email
