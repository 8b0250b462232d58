"""Validating the invoices against the billing manual.

Row rules live in ``toolkit.rows.invoices.parse_invoice`` (each cell on its own); the
rules here look across rows. Each is a plain function ``(invoices, context) ->
list[Finding]`` registered in ``CROSS_ROW_RULES``; ``validate`` runs them all and
returns every finding at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from toolkit.findings import Finding, sort_key
from toolkit.manual import BillingManual
from toolkit.money import CurrencyFormat
from toolkit.rows.invoices import PlainRows, RowRules, parse_invoice
from toolkit.rows.layout import SheetData, SheetLayout, find_layout, match_header
from toolkit.rows.packed import InvoiceBook
from toolkit.rows.text_numbers import LocaleNumbers
from toolkit.rows.values import ValueProblem, is_blank, to_money, to_text
from toolkit.text import clip, normalize_header


@dataclass
class CustomerDirectory:
    """What the customers sheet and the manual say about each customer, by folded name."""

    limits: dict[str, tuple[Decimal, str]] = field(default_factory=dict)  # name -> (limit, where it comes from)
    emails: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # folded name -> the name as first written


@dataclass
class Context:
    """What the cross-row rules need besides the invoices."""

    layout: SheetLayout
    manual: BillingManual
    as_of: date
    directory: CustomerDirectory
    error_rows: set[int]


Rule = Callable[[InvoiceBook, Context], list[Finding]]


def duplicate_numbers(invoices: InvoiceBook, ctx: Context) -> list[Finding]:
    """An invoice number used on more than one row: every such row is an error.

    Two passes, the first keeping only each number's hash: at Excel's last row a set of
    the folded numbers themselves would hold a million strings at once. The hashes are
    worked out by C code (``map``), in the order of ``_numbered_rows``.
    """
    codes = _number_codes(invoices)
    if len(set(codes)) == len(codes):
        return []  # the common case: no two numbers the same
    seen: set[int] = set()
    twice: set[int] = set()
    for code in codes:
        if code in seen:
            twice.add(code)
        else:
            seen.add(code)
    del seen
    groups: dict[object, list[int]] = defaultdict(list)
    for (row, installment), code in zip(_numbered_rows(invoices), codes, strict=True):
        if code in twice:
            inv = invoices.by_row(row)
            assert inv is not None and inv.number is not None
            key = inv.number.strip().casefold()
            groups[(key, inv.due_date) if installment else key].append(row)
    findings = []
    for group in groups.values():
        if len(group) < 2:
            continue  # the same hash, not the same number
        group.sort()
        rows = ", ".join(map(str, group))
        for row in group:
            inv = invoices.by_row(row)
            assert inv is not None
            findings.append(
                Finding(
                    "error",
                    "duplicate-invoice",
                    f"invoice number {clip(str(inv.number))} is used on more than one row (rows {rows}); "
                    "each invoice needs its own number",
                    ctx.layout.sheet,
                    ctx.layout.cell("invoice", row),
                    row,
                )
            )
    return findings


def _number_codes(invoices: InvoiceBook) -> list[int]:
    """The hash of every numbered invoice's folded number, in the order of ``_numbered_rows``.

    Installments may share a number, one per due date: theirs is the hash of (number, due date).
    """
    full = invoices.unpacked()
    fold = str.casefold
    codes = list(
        map(hash, map(fold, map(str.strip, [i.number for i in full if i.number is not None and not i.installment_of])))
    )
    codes.extend(hash((fold(i.number.strip()), i.due_date)) for i in full if i.number is not None and i.installment_of)
    if invoices.packed is not None:  # no packed invoice is an installment
        codes.extend(map(hash, map(fold, map(str.strip, invoices.packed.numbers))))
    return codes


def _numbered_rows(invoices: InvoiceBook) -> Iterator[tuple[int, bool]]:
    """(row, whether an installment) of every numbered invoice: the invoices, then the installments, then the packed."""
    full = invoices.unpacked()
    yield from ((i.row, False) for i in full if i.number is not None and not i.installment_of)
    yield from ((i.row, True) for i in full if i.number is not None and i.installment_of)
    if invoices.packed is not None:
        yield from ((row, False) for row in invoices.packed.rows)


def credit_limits(invoices: InvoiceBook, ctx: Context) -> list[Finding]:
    """A customer whose open balance goes over their credit limit: a warning on the row that crosses it."""
    default_limit = Decimal(str(ctx.manual.policy["default_credit_limit"]))
    totals: dict[str, Decimal] = defaultdict(Decimal)
    flagged: set[str] = set()
    number = CurrencyFormat(ctx.manual.locale, ctx.manual.currency).number
    findings = []
    for inv in invoices.unsettled():  # an invoice paid in full adds nothing to what is owed
        if inv.row in ctx.error_rows or inv.customer is None:
            continue
        balance = inv.balance
        if balance is None or balance <= 0:
            continue
        key = normalize_header(inv.customer)
        totals[key] += balance
        limit, where = ctx.directory.limits.get(key, (default_limit, "[policy] default_credit_limit"))
        if limit > 0 and totals[key] > limit and key not in flagged:
            flagged.add(key)
            findings.append(
                Finding(
                    "warning",
                    "over-credit-limit",
                    f"{clip(inv.customer)} owes {number(totals[key])} with this invoice, over the credit limit of "
                    f"{number(limit)} ({where})",
                    ctx.layout.sheet,
                    ctx.layout.cell("customer", inv.row),
                    inv.row,
                )
            )
    return findings


CROSS_ROW_RULES: list[Rule] = [duplicate_numbers, credit_limits]


def customer_directory(data: SheetData, manual: BillingManual) -> CustomerDirectory:
    """Credit limits and emails from the customers sheet, then the manual's [credit_limits] over them."""
    directory = CustomerDirectory()
    rows = data.extra_sheets.get("customers")
    settings = manual.section("customers_sheet")
    sheet_name = settings.get("sheet", "Customers")
    if rows:
        aliases = {
            "customer": tuple(settings["customer"]),
            "credit_limit": tuple(settings["credit_limit"]),
            "email": tuple(settings["email"]),
        }
        numbered = list(enumerate(rows, start=1))
        numbers = LocaleNumbers.of(manual.locale)
        header_at = None
        for number, values in numbered[: manual.header_search_rows]:
            found = match_header(values, aliases)
            if "customer" in found:
                header_at, columns = number, found
                break
        if header_at is not None:
            for _number, values in numbered[header_at:]:
                name = to_text(values.get(columns["customer"]))
                if name is None:
                    continue
                key = normalize_header(name)
                directory.names.setdefault(key, name)
                if "credit_limit" in columns and not is_blank(values.get(columns["credit_limit"])):
                    try:
                        sheet_limit, _ = to_money(values[columns["credit_limit"]], numbers)
                        directory.limits[key] = (sheet_limit, f"{sheet_name} sheet")
                    except ValueProblem:
                        pass
                if "email" in columns:
                    email = to_text(values.get(columns["email"]))
                    if email:
                        directory.emails[key] = email
    for name, limit in manual.credit_limits.items():
        directory.limits[normalize_header(name)] = (Decimal(str(limit)), f"{manual.source} [credit_limits]")
        directory.names.setdefault(normalize_header(name), name)
    return directory


def validate(data: SheetData, manual: BillingManual, as_of: date, book: InvoiceBook) -> list[Finding]:
    """Parse and check every row, keeping each invoice, aged, in ``book``; return all findings, in sheet order.

    Each row is aged (``InvoiceBook.add``) with its own findings as soon as it is parsed,
    while a large sheet is still being read; the rules across rows run after.
    """
    directory = customer_directory(data, manual)
    findings: list[Finding] = []
    rules = RowRules.of(manual)
    plain = PlainRows(data.layout, rules)  # most rows: typed in one step, nothing to report
    emails = directory.emails  # from the customers sheet, if there is one
    for source in data.iter_rows():
        values = source.values
        if emails:  # an email from the customers sheet where the row has none (is_blank, inlined)
            email = values.get("email")
            if (email is None or (isinstance(email, str) and not email.strip())) and values.get("customer") is not None:
                fallback = emails.get(normalize_header(str(values["customer"])))
                if fallback:
                    values["email"] = fallback
        invoice = plain.invoice(source)
        if invoice is None:
            invoice, row_findings = parse_invoice(source, data.layout, manual, rules)
        else:
            row_findings = []
        book.add(invoice, row_findings)
        if row_findings:
            findings.extend(row_findings)
    error_rows = {f.row for f in findings if f.is_error and f.row is not None}
    ctx = Context(data.layout, manual, as_of, directory, error_rows)
    for rule in CROSS_ROW_RULES:
        found = rule(book, ctx)
        findings.extend(found)
        ctx.error_rows |= {f.row for f in found if f.is_error and f.row is not None}
    findings.sort(key=sort_key)
    return findings


__all__ = ["CROSS_ROW_RULES", "Context", "CustomerDirectory", "find_layout", "validate"]
