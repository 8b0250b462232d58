"""Status, days overdue and aging bucket of each invoice, as of a date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from toolkit.manual import BillingManual
from toolkit.rows.invoices import ZERO, ZERO_FROM_FLOAT, Invoice

# Status keys; the words written in the sheet come from the manual's [statuses].
PAID, OPEN, OVERDUE, ON_HOLD, INVALID = "paid", "open", "overdue", "on_hold", "invalid"
CREDIT = "credit"  # a credit note: what the company owes the customer, netted against their invoices
STATUS_ORDER = (OPEN, OVERDUE, ON_HOLD, PAID, CREDIT, INVALID)


@dataclass(frozen=True, slots=True)
class RowResult:
    """What the tool computes for one invoice row."""

    status: str  # one of the status keys above
    days_overdue: int | None  # None when the row cannot be trusted
    aging_bucket: str | None  # "Current", "1-30", ..., "On hold", or None (paid, invalid)
    balance: Decimal | None


# The result of every invoice paid in full is the same object: one per shared zero balance.
_PAID_IN_FULL = {id(zero): RowResult(PAID, 0, None, zero) for zero in (ZERO, ZERO_FROM_FLOAT)}


def paid_in_full(balance: Decimal) -> RowResult:
    """The result of an invoice with nothing left to pay: one shared object for the shared zeros."""
    shared = _PAID_IN_FULL.get(id(balance))
    return shared if shared is not None and shared.balance is balance else RowResult(PAID, 0, None, balance)


def days_overdue(due: date, as_of: date) -> int:
    """Whole days from the due date to the as-of date; 0 on or before the due date."""
    return max((as_of - due).days, 0)


def classify(invoice: Invoice, has_error: bool, manual: BillingManual, as_of: date) -> RowResult:
    """The status rules, in order: Invalid, Credit, Paid, On hold, Overdue, Open."""
    balance = invoice.balance  # a property: amount - paid, worked out once here
    if invoice.is_credit and not has_error and balance is not None:
        return RowResult(CREDIT, 0, None, balance)
    if has_error or invoice.due_date is None or balance is None:
        return RowResult(INVALID, None, None, None)
    if balance <= 0:
        return paid_in_full(balance)
    if invoice.on_hold:
        return RowResult(ON_HOLD, 0, manual.statuses["on_hold"], balance)
    late = days_overdue(invoice.due_date, as_of)
    if late > 0:
        return RowResult(OVERDUE, late, manual.aging.label_for(late), balance)
    return RowResult(OPEN, 0, manual.statuses["current"], balance)
