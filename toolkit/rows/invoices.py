"""Invoices as typed values, parsed from the rows read from a sheet.

Parsing is where a cell that is not what its column promises becomes a finding:
``Invoices!E9: due date '31/02/2026' is not a real date``. A field that cannot
be read is left as None and the row carries an error, so nothing downstream
trusts it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from sys import intern
from typing import Any

from toolkit.findings import Finding, Severity
from toolkit.manual import BillingManual
from toolkit.money import CurrencyFormat
from toolkit.rows.layout import SheetLayout, SourceRow
from toolkit.rows.text_numbers import LocaleNumbers
from toolkit.rows.values import TEXT_DATE_NOTE, ValueProblem, check_email, to_date, to_days, to_money, to_text
from toolkit.text import MAX_CELL_TEXT, clip, normalize_header

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
    "document_type": "document type",
    "no_reminders": "no reminders",
    "boleto": "boleto",
}
# Words in a do-not-contact cell that mean "no mark".
_NOT_MARKED = frozenset({"no", "n", "nao", "false", "0", "falso"})


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
    is_credit: bool = False  # a credit note: amount and balance negative, never chased
    do_not_contact: bool = False  # marked in the [columns] no_reminders column
    boleto: str | None = None  # a boleto's "linha digitável", shown in reminders
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

    numbers: LocaleNumbers  # how the manual's locale writes numbers, for amounts typed as text
    shown_format: str  # the date format as the manual writes it, for messages
    strptime_format: str
    require_email: bool
    payment_methods: tuple[str, ...]
    accepted_methods: frozenset[str]  # folded with normalize_header
    max_terms_days: int
    tolerance: Decimal
    hold_values: frozenset[str]
    credit_types: frozenset[str]  # document types that are credit notes, folded with normalize_header
    money: CurrencyFormat  # amounts in messages, as the manual's locale writes them

    @classmethod
    def of(cls, manual: BillingManual) -> RowRules:
        policy = manual.policy
        methods = tuple(policy["payment_methods"])
        return cls(
            numbers=LocaleNumbers.of(manual.locale),
            shown_format=manual.settings["workbook"]["date_format"],
            strptime_format=manual.date_format,
            require_email=bool(policy["require_email"]),
            payment_methods=methods,
            accepted_methods=frozenset(normalize_header(m) for m in methods),
            max_terms_days=int(policy["max_terms_days"]),
            tolerance=Decimal(str(policy["balance_tolerance"])),
            hold_values=manual.hold_values,
            credit_types=frozenset(normalize_header(t) for t in policy["credit_note_types"]),
            money=CurrencyFormat(manual.locale, manual.currency),
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


@dataclass(slots=True)
class RowContext:
    """One row being typed: its cells, the invoice built from them, and the findings on its cells."""

    inv: Invoice
    columns: dict[str, Any]  # every column the sheet has, blank cells included
    values: dict[str, Any]  # the cells with something in
    layout: SheetLayout
    rules: RowRules
    found: RowFindings
    # The last number cell read (with its type: 101 and 101.0 give different Decimals) and its Decimal:
    # an invoice paid in full holds its amount once.
    last_number: list[Any] = field(default_factory=lambda: [None, None])

    def date(self, name: str, severity: Severity = "error") -> date | None:
        """The date in field ``name``, or None (a finding says why, when there was something)."""
        value = self.values.get(name)
        if value is None:
            return None
        if type(value) is datetime:  # a date cell, the common case: what to_date gives, without the call
            day = _DAYS.get(value)
            return day if day is not None else _day_of(value)
        rules = self.rules
        try:
            parsed, note = to_date(value, rules.strptime_format, rules.shown_format, self.layout.date1904)
        except ValueProblem as problem:
            self.found.add(severity, "bad-date", name, f"{FIELD_LABELS[name]} {problem}")
            return None
        if note:
            code = "date-as-text" if note is TEXT_DATE_NOTE else "date-as-number"
            self.found.add("warning", code, name, f"{FIELD_LABELS[name]} {note}")
        return parsed

    def money(self, name: str) -> Decimal | None:
        """The amount in field ``name``, or None (a finding says why, when there was something)."""
        value = self.values.get(name)
        if value is None:
            return None
        number = _number(value, self.last_number)  # a number cell: what to_money gives, without the call
        if number is not None:
            return number
        try:
            amount, as_text = to_money(value, self.rules.numbers)
        except ValueProblem as problem:
            self.found.add("error", "not-a-number", name, f"{FIELD_LABELS[name]} {problem}")
            return None
        if as_text:
            self.found.add(
                "warning",
                "number-as-text",
                name,
                f"{FIELD_LABELS[name]} '{clip(str(value))}' is typed as text; type it as a number so totals add it up",
            )
        return amount


def parse_invoice(
    source: SourceRow, layout: SheetLayout, manual: BillingManual, rules: RowRules | None = None
) -> tuple[Invoice, list[Finding]]:
    """Type one row and report every cell that is not what its column promises.

    ``rules`` is ``RowRules.of(manual)``; pass it when parsing many rows. The row's
    values are typed first (texts, dates, amounts), then every rule of ``ROW_RULES`` runs.
    """
    if rules is None:
        rules = RowRules.of(manual)
    columns = source.values
    values = {  # the cells with something in (is_blank, inlined: this runs for every cell)
        name: value
        for name, value in columns.items()
        if value is not None and (type(value) is not str or value.strip())
    }
    inv = Invoice(row=source.row, outputs=source.outputs or NO_OUTPUTS)
    ctx = RowContext(inv, columns, values, layout, rules, RowFindings(layout, source.row))
    inv.number = _text(values.get("invoice"))
    inv.customer = _shared(_text(values.get("customer")))
    inv.payment_method = _shared(_text(values.get("payment_method")))
    inv.installment_of = _text(values.get("installment_of"))
    inv.boleto = _text(values.get("boleto"))
    inv.email = _shared(_text(values.get("email")))
    inv.issue_date = ctx.date("issue_date")
    inv.due_date = ctx.date("due_date")
    inv.promised_date = ctx.date("promised_date")
    inv.payment_date = ctx.date("payment_date", "warning")
    _read_amounts(ctx)
    for rule in ROW_RULES:
        rule(ctx)
    return inv, ctx.found.items


# Columns a plain row (``PlainRows``) leaves blank: each of them, filled, asks for the full way.
_RARE_FIELDS = ("hold", "promised_date", "installment_of", "payment_date", "no_reminders", "boleto")


class PlainRows:
    """The commonest row typed in one step: what ``parse_invoice`` gives for it, without its findings' machinery.

    A plain row has its invoice number, customer and email as text (the number may be a
    whole number; a sheet without an email column has none), its due date (and issue date,
    if any) as date cells, an amount over zero and what was paid as numbers, a document
    type (if any) that is not a credit note's, nothing in the rarer columns
    (``_RARE_FIELDS``), and nothing any rule of ``parse_invoice`` would report. ``invoice`` gives such a row's
    invoice and None for any other, which ``parse_invoice`` then types the full way: the
    same invoice either way (``tests/test_plain_rows.py``, on generated rows). Most rows of
    a ledger are plain; this is a third of their typing time.
    """

    __slots__ = ("_emails", "_ledger", "_rare", "_rules")

    def __init__(self, layout: SheetLayout, rules: RowRules) -> None:
        self._rules = rules
        columns = layout.columns
        self._rare = tuple(name for name in _RARE_FIELDS if name in columns)
        self._emails = "email" in columns  # without the column, a row has no email and nothing is said of it
        # An open-items ledger: a balance column and no paid one; what was paid is the amount less the balance.
        self._ledger = "balance" in columns and "paid" not in columns

    def invoice(self, source: SourceRow) -> Invoice | None:
        """The row's invoice when the row is plain (it has nothing to report); else None."""
        get = source.values.get
        for name in self._rare:
            value = get(name)
            if value is not None and (type(value) is not str or value.strip()):
                return None
        # The texts: number, customer, email ("" without an email column), payment method, document type.
        number, customer, email = get("invoice"), get("customer"), get("email")
        if type(number) is int:
            number = str(number)
        if type(number) is not str or type(customer) is not str:
            return None
        if email is None and not self._emails:
            email = ""  # no email column (and none from the customers sheet): no address, and no finding
        elif type(email) is not str or not email.strip():
            return None
        number, customer, email = number.strip(), customer.strip(), email.strip()
        method = get("payment_method")
        if method is not None:
            if type(method) is not str:
                return None
            method = method.strip() or None
        rules = self._rules
        if (
            not number
            or not customer
            or (method is not None and rules.payment_methods and normalize_header(method) not in rules.accepted_methods)
            or len(number) + len(customer) + len(email) + len(method or "") > MAX_CELL_TEXT
            or (email and check_email(email))
        ):
            return None
        kind = get("document_type")
        if kind is not None and (
            type(kind) is not str or (kind.strip() and normalize_header(kind) in rules.credit_types)
        ):
            return None  # a credit note, or a type written otherwise than as text: the full way
        # The dates and terms.
        due = get("due_date")
        if type(due) is not datetime:
            return None
        due_day = _DAYS.get(due) or _day_of(due)
        issue = get("issue_date")
        if issue is None or (type(issue) is str and not issue.strip()):
            issue_day = None
        elif type(issue) is not datetime:
            return None
        else:
            issue_day = _DAYS.get(issue) or _day_of(issue)
        terms = get("terms")
        terms = terms if type(terms) is int else to_days(terms)
        max_terms = rules.max_terms_days
        if (terms is not None and terms > max_terms) or (
            issue_day is not None and (due_day < issue_day or (due_day - issue_day).days > max_terms)
        ):
            return None
        amounts = self._amounts(get)
        if amounts is None:
            return None
        return Invoice(
            row=source.row,
            number=number,
            customer=intern(customer),
            email=intern(email) if email else None,
            email_ok=bool(email),
            issue_date=issue_day,
            due_date=due_day,
            amount=amounts[0],
            paid=amounts[1],
            balance_cell=amounts[2],
            payment_method=intern(method) if method is not None else None,
            terms_days=terms,
            outputs=source.outputs or NO_OUTPUTS,
        )

    def _amounts(self, get: Callable[[str], Any]) -> tuple[Decimal, Decimal, Decimal | None] | None:
        """Amount, paid and the balance cell (as ``_read_amounts`` reads them), when plain; else None."""
        memo: list[Any] = [None, None]  # as RowContext.last_number: one Decimal for a number the row repeats
        amount = _number(get("amount"), memo)
        if amount is None or amount <= 0:
            return None
        paid = Decimal(0)
        balance = None
        value = get("balance")
        tolerance = self._rules.tolerance
        if self._ledger:  # as _read_payment reads a ledger: no checks but a balance below zero
            if value is not None and (type(value) is not str or value.strip()):
                balance = _number(value, memo)
                if balance is None or balance < 0:
                    return None
                paid = amount - balance
            return amount, paid, balance
        paid_value = get("paid")
        if paid_value is not None and (type(paid_value) is not str or paid_value.strip()):
            read = _number(paid_value, memo)
            if read is None or read < 0 or read > amount + tolerance:
                return None
            paid = read
        if value is not None and (type(value) is not str or value.strip()):
            balance = _number(value, memo)
            if balance is None or abs(balance - (amount - paid)) > tolerance:
                return None
        return amount, paid, balance


def _number(value: Any, memo: list[Any]) -> Decimal | None:
    """A number cell's Decimal, as ``to_money`` gives it; None for anything else (a text, a NaN).

    Zero is one shared Decimal (``ZERO_FROM_FLOAT`` for 0.0, ``ZERO`` for 0), and ``memo``
    holds the last number met with its Decimal: an invoice paid in full holds its amount once.
    """
    if type(value) is float:
        if not math.isfinite(value):
            return None
        if value == 0.0 and math.copysign(1.0, value) > 0:
            return ZERO_FROM_FLOAT
        key = (float, value)
        return memo[1] if key == memo[0] else _remember(memo, key, Decimal(repr(value)))
    if type(value) is int:
        if value == 0:
            return ZERO
        whole = (int, value)
        return memo[1] if whole == memo[0] else _remember(memo, whole, Decimal(value))
    return None


def _read_amounts(ctx: RowContext) -> None:
    """Amount, paid and balance: a credit note's, or an invoice's with its payment checks."""
    inv, rules = ctx.inv, ctx.rules
    inv.amount = ctx.money("amount")
    inv.is_credit = _is_credit(ctx.values.get("document_type"), inv.amount, rules)
    if inv.amount is not None and inv.amount <= 0 and not inv.is_credit:
        message = f"amount {rules.money.number(inv.amount)} must be more than zero"
        ctx.found.add("error", "amount-not-positive", "amount", message)
        inv.amount = None
    if inv.is_credit:
        _read_credit(inv, ctx.values, ctx.money)
    else:
        _read_payment(inv, ctx.columns, ctx.values, ctx.layout, rules, ctx.found, ctx.money)


# -- row rules: each one a function of the typed row, registered in ROW_RULES ------------------


def required_fields(ctx: RowContext) -> None:
    """Invoice number, customer, due date and amount are there (a credit note needs no due date)."""
    for required in ("invoice", "customer", "due_date", "amount"):
        if required not in ctx.values and not (ctx.inv.is_credit and required == "due_date"):
            ctx.found.add("error", "missing-field", required, f"{FIELD_LABELS[required]} is missing")


def due_after_issue(ctx: RowContext) -> None:
    """The due date is not before the issue date."""
    inv = ctx.inv
    if inv.issue_date and inv.due_date and inv.due_date < inv.issue_date:
        ctx.found.add(
            "error",
            "due-before-issue",
            "due_date",
            f"due date {inv.due_date.isoformat()} is before issue date {inv.issue_date.isoformat()}",
        )


def email_address(ctx: RowContext) -> None:
    """An email that reminders can go to: present when the manual requires it, and a valid address."""
    inv = ctx.inv
    if inv.email is None:
        if ctx.rules.require_email and "email" in ctx.layout.columns:
            ctx.found.add("warning", "missing-email", "email", "email is missing; no reminder can be sent")
        return
    reason = check_email(inv.email)
    if reason:
        message = f"email '{_one_line(inv.email)}' is not a valid address ({reason})"
        ctx.found.add("warning", "bad-email", "email", message)
    else:
        inv.email_ok = True


def accepted_payment_method(ctx: RowContext) -> None:
    """The payment method is one the company accepts ([policy] payment_methods; empty accepts any)."""
    methods, method = ctx.rules.payment_methods, ctx.inv.payment_method
    if method and methods and normalize_header(method) not in ctx.rules.accepted_methods:
        ctx.found.add(
            "warning",
            "payment-method",
            "payment_method",
            f"payment method '{clip(method)}' is not one the company accepts ({', '.join(methods)})",
        )


def terms_within_policy(ctx: RowContext) -> None:
    """The terms (a Terms column, else due date - issue date) are no longer than [policy] max_terms_days."""
    inv, max_terms = ctx.inv, ctx.rules.max_terms_days
    terms = ctx.values.get("terms")
    terms = terms if type(terms) is int else to_days(terms)  # a whole number of days: what to_days gives
    inv.terms_days = terms
    if terms is not None and terms > max_terms:
        message = f"terms of {terms} days are longer than the {max_terms} allowed"
        ctx.found.add("warning", "terms-too-long", "terms", message)
    elif inv.issue_date and inv.due_date and (inv.due_date - inv.issue_date).days > max_terms:
        days = (inv.due_date - inv.issue_date).days
        message = f"due {days} days after issue, longer than the {max_terms} days the policy allows"
        ctx.found.add("warning", "terms-too-long", "due_date", message)


def hold_and_contact_marks(ctx: RowContext) -> None:
    """The hold column (a word of [hold] values holds the invoice) and the do-not-contact column."""
    inv = ctx.inv
    hold_value = ctx.values.get("hold")
    if hold_value is not None:
        inv.hold_text = to_text(hold_value)
        inv.on_hold = hold_value is True or normalize_header(hold_value) in ctx.rules.hold_values
    inv.do_not_contact = marked_do_not_contact(ctx.values.get("no_reminders"))


def text_lengths(ctx: RowContext) -> None:
    """No text cell that reaches a message is longer than a cell of its column may be."""
    _refuse_long_texts(ctx.inv, ctx.found)


RowRule = Callable[[RowContext], None]
# The rules every typed row goes through, in this order (after its dates and amounts are read).
ROW_RULES: list[RowRule] = [
    required_fields,
    due_after_issue,
    email_address,
    accepted_payment_method,
    terms_within_policy,
    hold_and_contact_marks,
    text_lengths,
]


MoneyReader = Callable[[str], Decimal | None]


def _is_credit(document_type: Any, amount: Decimal | None, rules: RowRules) -> bool:
    """A credit note: a negative amount, or a document type the manual lists in [policy] credit_note_types."""
    if amount is not None and amount < 0:
        return True
    return document_type is not None and normalize_header(document_type) in rules.credit_types


def _read_credit(inv: Invoice, values: dict[str, Any], money_field: MoneyReader) -> None:
    """A credit note's amount and open balance, both negative (what the company owes the customer)."""
    if inv.amount is not None:
        inv.amount = -abs(inv.amount)
    if "balance" in values:
        balance = money_field("balance")
        inv.balance_cell = None if balance is None else -abs(balance)
    if inv.amount is not None:
        inv.paid = inv.amount - inv.balance_cell if inv.balance_cell is not None else Decimal(0)


def _read_payment(
    inv: Invoice,
    columns: dict[str, Any],
    values: dict[str, Any],
    layout: SheetLayout,
    rules: RowRules,
    found: RowFindings,
    money_field: MoneyReader,
) -> None:
    """What was paid and what is owed: the Paid and Balance columns, or (a ledger: Balance, no Paid) amount - balance."""
    number = rules.money.number
    if "balance" in layout.columns and "paid" not in layout.columns:
        # An open-items ledger from an accounting system: the balance is what is owed, the rest was paid.
        inv.balance_cell = money_field("balance") if "balance" in values else None
        if inv.amount is not None and inv.balance_cell is not None:
            inv.paid = inv.amount - inv.balance_cell
            if inv.balance_cell < 0:
                found.add(
                    "warning",
                    "overpaid",
                    "balance",
                    f"balance {number(inv.balance_cell)} is negative: more was paid than the amount; "
                    "check the payment or record the difference as a credit note",
                )
        return
    paid = money_field("paid") if "paid" in columns else Decimal(0)
    if paid is None and "paid" in values:
        inv.paid = None  # unreadable: the error is already recorded
    else:
        inv.paid = paid if paid is not None else Decimal(0)
    if inv.paid is not None and inv.paid < 0:
        found.add(
            "error", "paid-negative", "paid", f"paid {number(inv.paid)} is negative; record refunds as a separate line"
        )
        inv.paid = None
    if inv.paid is not None and inv.amount is not None and inv.paid > inv.amount + rules.tolerance:
        found.add(
            "error",
            "overpaid",
            "paid",
            f"paid {number(inv.paid)} is more than the amount {number(inv.amount)}; "
            "check the payment or record a credit note",
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
                    f"balance {number(inv.balance_cell)} is not amount - paid "
                    f"({number(inv.amount)} - {number(inv.paid)} = {number(expected)})",
                )


def _refuse_long_texts(inv: Invoice, found: RowFindings) -> None:
    """A text cell too long to be what its column holds is an error: the row gets no reminder, the text no message."""
    if (  # the common case, all short, told at once: this runs for every row
        len(inv.number or "")
        + len(inv.customer or "")
        + len(inv.email or "")
        + len(inv.payment_method or "")
        + len(inv.installment_of or "")
        + len(inv.hold_text or "")
        <= MAX_CELL_TEXT
    ):
        return
    texts = {
        "invoice": inv.number,
        "customer": inv.customer,
        "email": inv.email,
        "payment_method": inv.payment_method,
        "installment_of": inv.installment_of,
        "hold": inv.hold_text,
    }
    for name, text in texts.items():
        if text is not None and len(text) > MAX_CELL_TEXT:
            found.add(
                "error",
                "text-too-long",
                name,
                f"{FIELD_LABELS[name]} is {len(text):,} characters long, more than the {MAX_CELL_TEXT:,} "
                "a cell of this column may have; shorten it",
            )


def marked_do_not_contact(value: Any) -> bool:
    """Whether a cell of the ``no_reminders`` column marks its invoice: anything but blank, FALSE or a "no"."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    text = to_text(value)
    return bool(text) and normalize_header(text) not in _NOT_MARKED


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
    """A cell's text quoted on one line, and short (``clip``)."""
    return clip(text).replace("\r", "\\r").replace("\n", "\\n")
