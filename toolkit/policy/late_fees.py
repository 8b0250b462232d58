"""Late charges: a fine once past the grace days, simple interest pro rata per day, an optional flat fee.

Charges are *computed, never accumulated*: ``late_charges`` is a pure function of the
balance, the due date and the as-of date, so a run repeated ten times a day gives the
same figure, and nothing is ever added to the workbook's own amounts.

The arithmetic, stated once (the manual's ``[late_fees]`` table):

* days late = as-of date - due date; nothing is charged until days late > ``grace_days``;
* fine = balance x ``fine_percent`` / 100, charged once (at most ``max_fine_percent``);
* interest = balance x ``interest_percent_per_month`` / 100 x days late / 30 (simple
  interest, a month counted as 30 days, every day from the due date; at most
  ``max_interest_percent`` of the balance when that is set);
* flat fee = ``flat_fee``, once;
* each charge is rounded half-up to the currency's minor unit (cents), then added:
  amount due = balance + fine + interest + flat fee.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision

from toolkit.manual import BillingManual
from toolkit.rows.invoices import Invoice
from toolkit.text import normalize_header

DAYS_IN_MONTH = 30
HUNDRED = Decimal(100)
ZERO = Decimal(0)


@dataclass(frozen=True)
class LateFeePolicy:
    """The ``[late_fees]`` table, as Decimals."""

    enabled: bool = False
    fine_percent: Decimal = ZERO
    interest_percent_per_month: Decimal = ZERO
    flat_fee: Decimal = ZERO
    grace_days: int = 0
    max_fine_percent: Decimal = ZERO  # 0: no cap
    max_interest_percent: Decimal = ZERO  # 0: no cap
    exempt_on_hold: bool = True
    exempt_installments: bool = False
    exempt_customers: frozenset[str] = frozenset()  # folded with normalize_header
    minor_unit: Decimal = Decimal("0.01")

    @classmethod
    def of(cls, manual: BillingManual) -> LateFeePolicy:
        """The manual's ``[late_fees]``; the currency's minor unit from ``[company] currency``."""
        fees = manual.section("late_fees")
        if not fees:
            return cls()
        return cls(
            enabled=bool(fees["enabled"]),
            fine_percent=_decimal(fees["fine_percent"]),
            interest_percent_per_month=_decimal(fees["interest_percent_per_month"]),
            flat_fee=_decimal(fees["flat_fee"]),
            grace_days=int(fees["grace_days"]),
            max_fine_percent=_decimal(fees["max_fine_percent"]),
            max_interest_percent=_decimal(fees["max_interest_percent"]),
            exempt_on_hold=bool(fees["exempt_on_hold"]),
            exempt_installments=bool(fees["exempt_installments"]),
            exempt_customers=frozenset(normalize_header(c) for c in fees["exempt_customers"]),
            minor_unit=Decimal(1).scaleb(-get_currency_precision(manual.currency)),
        )


@dataclass(frozen=True)
class LateCharges:
    """What one invoice owes today: its balance and each charge on it."""

    balance: Decimal
    days_late: int
    fine: Decimal = ZERO
    interest: Decimal = ZERO
    flat_fee: Decimal = ZERO
    exempt: str = ""  # why no charges apply although the invoice is late ("on hold", ...)

    @property
    def charges(self) -> Decimal:
        return self.fine + self.interest + self.flat_fee

    @property
    def amount_due(self) -> Decimal:
        """Balance + fine + interest + flat fee."""
        return self.balance + self.charges


def _decimal(value: object) -> Decimal:
    # Through str: 2.0 read from TOML as a float becomes Decimal("2.0"), not a binary fraction.
    return Decimal(str(value))


def _round(amount: Decimal, unit: Decimal) -> Decimal:
    return amount.quantize(unit, rounding=ROUND_HALF_UP)


def late_charges(balance: Decimal, due_date: date, as_of: date, policy: LateFeePolicy) -> LateCharges:
    """The charges on ``balance`` due on ``due_date``, as of ``as_of``: a pure function, nothing accumulates."""
    days_late = (as_of - due_date).days
    if not policy.enabled or balance <= 0 or days_late <= policy.grace_days:
        return LateCharges(balance, max(days_late, 0))
    unit = policy.minor_unit
    fine_percent = policy.fine_percent
    if policy.max_fine_percent > 0:
        fine_percent = min(fine_percent, policy.max_fine_percent)
    fine = _round(balance * fine_percent / HUNDRED, unit)
    interest = balance * policy.interest_percent_per_month / HUNDRED * days_late / DAYS_IN_MONTH
    if policy.max_interest_percent > 0:
        interest = min(interest, balance * policy.max_interest_percent / HUNDRED)
    return LateCharges(balance, days_late, fine, _round(interest, unit), _round(policy.flat_fee, unit))


def exemption(invoice: Invoice, on_hold: bool, policy: LateFeePolicy) -> str:
    """Why an invoice is exempt from late charges under the policy, or ``""``."""
    if on_hold and policy.exempt_on_hold:
        return "on hold"
    if invoice.installment_of and policy.exempt_installments:
        return "an installment"
    if invoice.customer and normalize_header(invoice.customer) in policy.exempt_customers:
        return "customer exempt in [late_fees] exempt_customers"
    return ""


def invoice_charges(
    invoice: Invoice, balance: Decimal, as_of: date, policy: LateFeePolicy, *, on_hold: bool = False
) -> LateCharges:
    """One invoice's charges as of ``as_of``: ``late_charges`` unless the invoice is exempt."""
    if invoice.due_date is None:
        return LateCharges(balance, 0)
    why = exemption(invoice, on_hold, policy)
    if why:
        return LateCharges(balance, max((as_of - invoice.due_date).days, 0), exempt=why)
    return late_charges(balance, invoice.due_date, as_of, policy)


def amount_due(
    manual: BillingManual, invoice: Invoice, balance: Decimal, as_of: date, *, on_hold: bool = False
) -> Decimal:
    """The amount to pay today for one invoice (balance plus any late charges): e.g. the Pix amount."""
    return invoice_charges(invoice, balance, as_of, LateFeePolicy.of(manual), on_hold=on_hold).amount_due


def fees_enabled(manual: BillingManual) -> bool:
    """``[late_fees] enabled``."""
    return bool(manual.section("late_fees").get("enabled", False))
