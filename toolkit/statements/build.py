"""One customer's statement of account, computed from an ``Analysis``.

The figures are the same as the report's (rows with errors are left out, see
``toolkit.report.figures.counted``): the open invoices with their aging, the payments
received (invoices with a payment date, in the last ``[statements] payments_days`` days),
the amounts already paid or credited on open invoices, late charges when the policy has
them, the total due, how to pay and who to contact about a dispute.

Two hooks are left for settings other parts of the tool add: ``late_charges`` (the
``[late_fees]`` policy) and ``how_to_pay`` (the ``[payments]`` link or Pix code). Each reads
its section when the manual has it, and gives nothing otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from toolkit.manual import BillingManual
from toolkit.pipeline import Analysis
from toolkit.report.figures import counted, customer_key
from toolkit.rows.aging import INVALID, ON_HOLD, OVERDUE, PAID, RowResult
from toolkit.rows.invoices import Invoice

ZERO = Decimal(0)
DEFAULT_PAYMENTS_DAYS = 90


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice still owed, with its aging."""

    number: str
    issue_date: date | None
    due_date: date | None
    amount: Decimal
    paid: Decimal
    balance: Decimal
    days_overdue: int
    aging: str  # the aging column: Current, 1-30, ..., On hold
    on_hold: bool
    row: int = 0  # the invoice's sheet row, where its late charges are found


@dataclass(frozen=True)
class Payment:
    """A payment received: the invoice it paid, the day, the amount and how."""

    invoice: str
    paid_on: date
    amount: Decimal
    method: str


@dataclass(frozen=True)
class Credit:
    """An amount already paid or credited on an open invoice (no payment date in the sheet)."""

    invoice: str
    amount: Decimal


@dataclass(frozen=True)
class LateCharge:
    """A late charge on an overdue invoice, as the ``[late_fees]`` policy computes it."""

    invoice: str
    description: str
    amount: Decimal


@dataclass
class Statement:
    """Everything one customer's statement shows."""

    customer: str
    email: str | None
    as_of: date
    locale: str
    currency: str
    company: dict[str, str]
    aging_columns: list[str]
    open_invoices: list[OpenInvoice] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    credits: list[Credit] = field(default_factory=list)
    late_charges: list[LateCharge] = field(default_factory=list)
    payments_since: date | None = None
    how_to_pay: list[tuple[str, str]] = field(default_factory=list)  # (label, text): instructions, link, Pix code
    has_payment_dates: bool = False

    @property
    def total_open(self) -> Decimal:
        return sum((i.balance for i in self.open_invoices), ZERO)

    @property
    def total_late_charges(self) -> Decimal:
        return sum((c.amount for c in self.late_charges), ZERO)

    @property
    def identity(self) -> list[str]:
        """Who is collecting, as every collection document shows it: legal name, tax id, address."""
        company = self.company
        tax_id = company.get("tax_id", "")
        label = "CNPJ/CPF" if self.locale.lower().startswith("pt") else "Tax ID"
        lines = [company.get("legal_name", ""), f"{label} {tax_id}" if tax_id else "", company.get("address", "")]
        return [line for line in lines if line]

    @property
    def total_due(self) -> Decimal:
        """What the customer owes: every open balance (disputed ones included) and the late charges."""
        return self.total_open + self.total_late_charges

    @property
    def total_overdue(self) -> Decimal:
        return sum((i.balance for i in self.open_invoices if i.days_overdue > 0 and not i.on_hold), ZERO)

    @property
    def aging_totals(self) -> dict[str, Decimal]:
        """The open balance by aging column, every column present (zero when empty)."""
        totals = dict.fromkeys(self.aging_columns, ZERO)
        for line in self.open_invoices:
            totals[line.aging] = totals.get(line.aging, ZERO) + line.balance
        return totals

    @property
    def total_payments(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)

    @property
    def total_credits(self) -> Decimal:
        return sum((c.amount for c in self.credits), ZERO)


def lines_by_customer(analysis: Analysis) -> dict[str, list[tuple[Invoice, RowResult]]]:
    """Customer key -> the counted invoices their statement shows, in sheet order, in one pass over the rows.

    Kept of each customer: every invoice a statement shows (open, or paid within
    ``[statements] payments_days``), and the first invoice and the first with a valid
    address, which name the customer and give the address. The rest (paid long ago) would
    add nothing, and at Excel's last row would be a million invoices held at once.
    """
    groups: dict[str, list[tuple[Invoice, RowResult]]] = defaultdict(list)
    keys: dict[str, str] = {}
    with_address: set[str] = set()
    since, as_of = statement_since(analysis), analysis.as_of
    for invoice, result in counted(analysis):
        name = invoice.customer or ""
        key = keys.get(name)
        if key is None:
            key = keys[name] = customer_key(name)
        first_address = invoice.email_ok and key not in with_address
        if first_address:
            with_address.add(key)
        if first_address or key not in groups or _shown(invoice, result, since, as_of):
            groups[key].append((invoice, result))
    return groups


def statement_since(analysis: Analysis) -> date:
    """The first day of the payments a statement lists (``[statements] payments_days`` before the as-of date)."""
    days = int(analysis.manual.section("statements").get("payments_days", DEFAULT_PAYMENTS_DAYS))
    return analysis.as_of - timedelta(days=days)


def _shown(invoice: Invoice, result: RowResult, since: date, as_of: date) -> bool:
    """Whether a statement shows the invoice: as a payment of the period, or as open (see ``_add_invoice``)."""
    day = invoice.payment_date
    if day is not None and (invoice.paid or ZERO) > 0 and since <= day <= as_of:
        return True
    return not (result.status in (PAID, INVALID) or result.balance is None or result.balance <= 0)


def build_statement(analysis: Analysis, lines: Iterable[tuple[Invoice, RowResult]], name: str = "") -> Statement:
    """The statement of one customer from their invoices (``lines_by_customer(analysis)[key]``)."""
    manual = analysis.manual
    company = {k: str(v) for k, v in manual.section("company").items() if isinstance(v, str)}
    statuses = manual.statuses
    since = statement_since(analysis)
    statement = Statement(
        customer=name,
        email=None,
        as_of=analysis.as_of,
        locale=manual.locale,
        currency=manual.currency,
        company=company,
        aging_columns=[statuses["current"], *manual.aging.labels, statuses["on_hold"]],
        payments_since=since,
        has_payment_dates="payment_date" in analysis.data.layout.columns,
    )
    for invoice, result in lines:
        statement.customer = statement.customer or invoice.customer or ""
        statement.email = statement.email or (invoice.email if invoice.email_ok else None)
        _add_invoice(statement, invoice, result, since)
    statement.open_invoices.sort(key=lambda i: (i.due_date or date.max, i.number))
    statement.payments.sort(key=lambda p: (p.paid_on, p.invoice))
    statement.late_charges = late_charges(analysis, statement)
    statement.how_to_pay = how_to_pay(manual, statement)
    return statement


def _add_invoice(statement: Statement, invoice: Invoice, result: RowResult, since: date) -> None:
    number = invoice.number or f"row {invoice.row}"
    paid = invoice.paid or ZERO
    if invoice.payment_date is not None and paid > 0 and since <= invoice.payment_date <= statement.as_of:
        statement.payments.append(Payment(number, invoice.payment_date, paid, invoice.payment_method or ""))
    if result.status in (PAID, INVALID) or result.balance is None or result.balance <= 0:
        return
    if paid > 0 and invoice.payment_date is None:
        statement.credits.append(Credit(number, paid))
    statement.open_invoices.append(
        OpenInvoice(
            number=number,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            amount=invoice.amount or result.balance,
            paid=paid,
            balance=result.balance,
            days_overdue=(result.days_overdue or 0) if result.status == OVERDUE else 0,
            aging=result.aging_bucket or "",
            on_hold=result.status == ON_HOLD,
            row=invoice.row,
        )
    )


def late_charges(analysis: Analysis, statement: Statement) -> list[LateCharge]:
    """The late charges on the statement's open invoices, as the run computes them (``[late_fees]``; none when off)."""
    charges = analysis.late_charges()
    late = "{} dias de atraso" if statement.locale.lower().startswith("pt") else "{} days late"
    found = []
    for line in statement.open_invoices:
        charge = charges.get(line.row)
        if charge is not None and charge.charges:
            found.append(LateCharge(line.number, late.format(charge.days_late), charge.charges))
    return found


def how_to_pay(manual: BillingManual, statement: Statement) -> list[tuple[str, str]]:
    """How to pay the statement's total: the company's instructions, the message link and the Pix code (``[payments]``).

    Returns ``(label key, text)`` pairs; the label keys are translated by the renderer
    (``instructions``, ``payment_link``, ``pix``).
    """
    from toolkit.payments.ways import payment_context

    found: list[tuple[str, str]] = []
    instructions = str(manual.section("company").get("payment_instructions", "")).strip()
    if instructions:
        found.append(("instructions", instructions))
    total = statement.total_due
    if total <= 0:
        return found
    payment, _ = payment_context(
        manual.section("payments"),
        str(manual.section("company").get("name", "")),
        statement.customer,
        [line.number for line in statement.open_invoices],
        total,
        with_images=False,  # the statement shows the code as text: no QR picture to draw
    )
    if payment["link"]:
        found.append(("payment_link", payment["link"]))
    if payment["pix"]:
        found.append(("pix", payment["pix"]["code"]))
    return found
