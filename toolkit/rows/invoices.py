"""Invoices as typed values, parsed from the rows read from a sheet.

Parsing is where a cell that is not what its column promises becomes a finding:
``Invoices!E9: due date '31/02/2026' is not a real date``. A field that cannot
be read is left as None and the row carries an error, so nothing downstream
trusts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from sys import intern
from typing import Any

from babel.numbers import get_decimal_symbol

from toolkit.findings import Finding, Severity
from toolkit.manual import BillingManual
from toolkit.rows.layout import SheetLayout, SourceRow
from toolkit.rows.values import ValueProblem, check_email, to_date, to_days, to_money, to_text
from toolkit.text import normalize_header

# Zero amounts (the paid of an unpaid invoice, the balance of a paid one) share one Decimal each.
ZERO = Decimal(0)
ZERO_FROM_FLOAT = Decimal("0.0")
# The outputs of an invoice whose row has none of our columns yet: one empty dict, only ever read.
NO_OUTPUTS: dict[str, Any] = {}

FIELD_LABELS = {
    "invoice": "invoice number",
    "customer": "customer",
    "email": "email",
    "issue_date": "issue date",
    "due_date": "due date",
    "amount": "amount",
    "paid": "paid",
    "balance": "balance",
    "payment_method": "payment method",
    "terms": "terms",
    "hold": "hold",
    "promised_date": "promised date",
    "installment_of": "installment of",
    "payment_date": "payment date",
}


@dataclass(slots=True)
class Invoice:
    """One invoice row, typed. Fields that could not be read are None."""

    row: int
    number: str | None = None
    customer: str | None = None
    email: str | None = None
    email_ok: bool = False
    issue_date: date | None = None
    due_date: date | None = None
    amount: Decimal | None = None
    paid: Decimal | None = Decimal(0)
    balance_cell: Decimal | None = None
    payment_method: str | None = None
    terms_days: int | None = None
    on_hold: bool = False
    hold_text: str | None = None
    promised_date: date | None = None
    installment_of: str | None = None
    payment_date: date | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def balance(self) -> Decimal | None:
        """What is still owed: the balance column when present, else amount - paid."""
        if self.balance_cell is not None:
            return self.balance_cell
        if self.amount is None or self.paid is None:
            return None
        return self.amount - self.paid


@dataclass(frozen=True)
class RowRules:
    """What the row checks take from the billing manual, looked up once per run instead of once per row."""

    decimal_symbol: str
    shown_format: str  # the date format as the manual writes it, for messages
    strptime_format: str
    require_email: bool
    payment_methods: tuple[str, ...]
    accepted_methods: frozenset[str]  # folded with normalize_header
    max_terms_days: int
    tolerance: Decimal
    hold_values: frozenset[str]

    @classmethod
    def of(cls, manual: BillingManual) -> RowRules:
        policy = manual.policy
        methods = tuple(policy["payment_methods"])
        return cls(
            decimal_symbol=get_decimal_symbol(manual.locale),
            shown_format=manual.settings["workbook"]["date_format"],
            strptime_format=manual.date_format,
            require_email=bool(policy["require_email"]),
            payment_methods=methods,
            accepted_methods=frozenset(normalize_header(m) for m in methods),
            max_terms_days=int(policy["max_terms_days"]),
            tolerance=Decimal(str(policy["balance_tolerance"])),
            hold_values=manual.hold_values,
        )


class RowFindings:
    """Collects the findings of one row, addressing each at its field's cell."""

    __slots__ = ("items", "layout", "row")

    def __init__(self, layout: SheetLayout, row: int) -> None:
        self.layout, self.row = layout, row
        self.items: list[Finding] = []

    def add(self, severity: Severity, code: str, field_name: str | None, message: str) -> None:
        cell = self.layout.cell(field_name, self.row) if field_name in self.layout.columns else None
        self.items.append(Finding(severity, code, message, self.layout.sheet, cell, self.row))


def parse_invoice(
    source: SourceRow, layout: SheetLayout, manual: BillingManual, rules: RowRules | None = None
) -> tuple[Invoice, list[Finding]]:
    """Type one row and report every cell that is not what its column promises.

    ``rules`` is ``RowRules.of(manual)``; pass it when parsing many rows.
    """
    if rules is None:
        rules = RowRules.of(manual)
    columns = source.values  # every column the sheet has, blank cells included
    values = {  # the cells with something in (is_blank, inlined: this runs for every cell)
        name: value
        for name, value in columns.items()
        if value is not None and (type(value) is not str or value.strip())
    }
    found = RowFindings(layout, source.row)
    inv = Invoice(row=source.row, outputs=source.outputs or NO_OUTPUTS)
    decimal_symbol = rules.decimal_symbol
    shown_format = rules.shown_format
    strptime_format = rules.strptime_format

    for required in ("invoice", "customer", "due_date", "amount"):
        if required not in values:
            found.add("error", "missing-field", required, f"{FIELD_LABELS[required]} is missing")

    inv.number = _text(values.get("invoice"))
    inv.customer = _shared(_text(values.get("customer")))
    inv.payment_method = _shared(_text(values.get("payment_method")))
    inv.installment_of = _text(values.get("installment_of"))

    def date_field(name: str, severity: Severity = "error") -> date | None:
        value = values.get(name)
        if value is None:
            return None
        if type(value) is datetime:  # a date cell, the common case: what to_date gives, without the call
            day = _DAYS.get(value)
            return day if day is not None else _day_of(value)
        try:
            parsed, note = to_date(value, strptime_format, shown_format)
        except ValueProblem as problem:
            found.add(severity, "bad-date", name, f"{FIELD_LABELS[name]} {problem}")
            return None
        if note:
            found.add("warning", "date-as-number", name, f"{FIELD_LABELS[name]} {note}")
        return parsed

    inv.issue_date = date_field("issue_date")
    inv.due_date = date_field("due_date")
    inv.promised_date = date_field("promised_date")
    inv.payment_date = date_field("payment_date", "warning")

    # The last number cell read (with its type: 101 and 101.0 give different Decimals) and its Decimal:
    # an invoice paid in full holds its amount once.
    last_number: list[Any] = [None, None]

    def money_field(name: str) -> Decimal | None:
        value = values.get(name)
        if value is None:
            return None
        if type(value) is float and math.isfinite(value):  # a number cell: what to_money gives, without the call
            if value == 0.0 and math.copysign(1.0, value) > 0:
                return ZERO_FROM_FLOAT  # Decimal("0.0"), the same for every row
            key = (float, value)
            return last_number[1] if key == last_number[0] else _remember(last_number, key, Decimal(repr(value)))
        if type(value) is int:
            if value == 0:
                return ZERO
            whole = (int, value)
            return last_number[1] if whole == last_number[0] else _remember(last_number, whole, Decimal(value))
        try:
            amount, as_text = to_money(value, decimal_symbol)
        except ValueProblem as problem:
            found.add("error", "not-a-number", name, f"{FIELD_LABELS[name]} {problem}")
            return None
        if as_text:
            found.add(
                "warning",
                "number-as-text",
                name,
                f"{FIELD_LABELS[name]} '{value}' is typed as text; type it as a number so totals add it up",
            )
        return amount

    inv.amount = money_field("amount")
    if inv.amount is not None and inv.amount <= 0:
        found.add("error", "amount-not-positive", "amount", f"amount {inv.amount:,.2f} must be more than zero")
        inv.amount = None
    paid = money_field("paid") if "paid" in columns else Decimal(0)
    if paid is None and "paid" in values:
        inv.paid = None  # unreadable: the error is already recorded
    else:
        inv.paid = paid if paid is not None else Decimal(0)
    if inv.paid is not None and inv.paid < 0:
        found.add(
            "error", "paid-negative", "paid", f"paid {inv.paid:,.2f} is negative; record refunds as a separate line"
        )
        inv.paid = None
    if inv.paid is not None and inv.amount is not None and inv.paid > inv.amount + rules.tolerance:
        found.add(
            "error",
            "overpaid",
            "paid",
            f"paid {inv.paid:,.2f} is more than the amount {inv.amount:,.2f}; check the payment or record a credit note",
        )
    if "balance" in values:
        inv.balance_cell = money_field("balance")
        if inv.balance_cell is not None and inv.amount is not None and inv.paid is not None:
            expected = inv.amount - inv.paid
            if abs(inv.balance_cell - expected) > rules.tolerance:
                found.add(
                    "error",
                    "balance-mismatch",
                    "balance",
                    f"balance {inv.balance_cell:,.2f} is not amount - paid "
                    f"({inv.amount:,.2f} - {inv.paid:,.2f} = {expected:,.2f})",
                )

    if inv.issue_date and inv.due_date and inv.due_date < inv.issue_date:
        found.add(
            "error",
            "due-before-issue",
            "due_date",
            f"due date {inv.due_date.isoformat()} is before issue date {inv.issue_date.isoformat()}",
        )

    email = _shared(_text(values.get("email")))
    inv.email = email
    if email is None:
        if rules.require_email and "email" in layout.columns:
            found.add("warning", "missing-email", "email", "email is missing; no reminder can be sent")
    else:
        reason = check_email(email)
        if reason:
            found.add("warning", "bad-email", "email", f"email '{_one_line(email)}' is not a valid address ({reason})")
        else:
            inv.email_ok = True

    methods = rules.payment_methods
    if inv.payment_method and methods and normalize_header(inv.payment_method) not in rules.accepted_methods:
        found.add(
            "warning",
            "payment-method",
            "payment_method",
            f"payment method '{inv.payment_method}' is not one the company accepts ({', '.join(methods)})",
        )

    terms = values.get("terms")
    terms = terms if type(terms) is int else to_days(terms)  # a whole number of days: what to_days gives
    inv.terms_days = terms
    max_terms = rules.max_terms_days
    if terms is not None and terms > max_terms:
        found.add(
            "warning", "terms-too-long", "terms", f"terms of {terms} days are longer than the {max_terms} allowed"
        )
    elif inv.issue_date and inv.due_date and (inv.due_date - inv.issue_date).days > max_terms:
        days = (inv.due_date - inv.issue_date).days
        found.add(
            "warning",
            "terms-too-long",
            "due_date",
            f"due {days} days after issue, longer than the {max_terms} days the policy allows",
        )

    hold_value = values.get("hold")
    if hold_value is not None:
        inv.hold_text = to_text(hold_value)
        inv.on_hold = hold_value is True or normalize_header(hold_value) in rules.hold_values
    return inv, found.items


# A ledger's dates repeat (a year of invoices has some 365 issue dates): each is held once.
_DAYS: dict[datetime, date] = {}
_MAX_DAYS = 8192  # a sheet of date-times with hours in them would otherwise grow it without end


def _day_of(value: datetime) -> date:
    if len(_DAYS) >= _MAX_DAYS:
        _DAYS.clear()
    day = _DAYS[value] = value.date()
    return day


def _remember(memo: list[Any], key: tuple[type, Any], amount: Decimal) -> Decimal:
    memo[0], memo[1] = key, amount
    return amount


def _shared(text: str | None) -> str | None:
    """One string object for each name, address and method however many rows repeat it.

    Rows read by a second process arrive as new objects batch by batch; a customer's name
    on 500 invoices would otherwise be held 500 times.
    """
    return intern(text) if text is not None else None


def _text(value: Any) -> str | None:
    """``to_text``, with text cells (the common case) handled here: blank ones were dropped already."""
    return (value.strip() or None) if type(value) is str else to_text(value)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")
