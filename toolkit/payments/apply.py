"""Matched payments written into the sheet: Paid, the payment date, and the Balance kept true.

This is the one place the tool writes outside its own columns, and only on
``receivables reconcile --apply``. For each invoice paid: Paid gets the amount
added, the payment-date column gets the bank's booking date (a ``Payment Date``
column of the tool's own is added when the sheet has none), and a Balance column
gets Amount - Paid: a plain number is replaced, a formula is kept and only its
cached result is replaced, so the next run reads the right balance. A workbook is
also marked to recalculate every formula when it is next opened, for totals and
anything else that depends on Paid.

The workbook is written with the usual safety: refused while open in Excel or
LibreOffice or changed on disk since it was read, replaced atomically, a backup kept.
A Google Sheet is written in one batch request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from toolkit.payments.matching import Match
from toolkit.pipeline import Analysis
from toolkit.rows.invoices import Invoice
from toolkit.source import Source
from toolkit.text import column_letter, normalize_header

# The headers of the columns --apply adds when the sheet has none, by the language of [company] locale
# (each is among the names [columns] knows, so the next run finds the column).
NEW_HEADERS = {"en": ("Paid", "Payment Date"), "pt": ("Pago", "Data de Pagamento")}


@dataclass(frozen=True)
class CellWrite:
    """One cell to write, backend-neutral; ``cached_only`` keeps a formula and replaces only its result."""

    row: int
    col: int
    value: Any
    cached_only: bool = False


@dataclass
class CellChange:
    """A cell the apply changes, for the listing: ``Invoices!E5 Paid: 0 -> 1200.00 (INV-1003)``."""

    cell: str
    column: str
    invoice: str
    before: Any
    after: Any


@dataclass
class PaymentPlan:
    """Every cell to write, the columns to add and what each change is."""

    writes: list[CellWrite] = field(default_factory=list)
    changes: list[CellChange] = field(default_factory=list)
    added_columns: dict[int, str] = field(default_factory=dict)  # column -> header


@dataclass
class ApplyReport:
    """What ``--apply`` wrote."""

    target: str
    changes: list[CellChange]
    added_columns: list[str]
    backup: Path | None = None
    recalculate_on_open: bool = False


def plan_payments(matches: list[Match], analysis: Analysis) -> PaymentPlan:
    """The cells that record ``matches`` in the sheet, per invoice (several lines may pay one invoice)."""
    layout = analysis.data.layout
    plan = PaymentPlan()
    paid_by_row: dict[int, tuple[Invoice, Decimal, date]] = {}
    for match in matches:
        for allocation in match.allocations:
            invoice = allocation.invoice
            _, total, latest = paid_by_row.get(invoice.row, (invoice, Decimal(0), match.line.booked))
            paid_by_row[invoice.row] = (invoice, total + allocation.amount, max(latest, match.line.booked))
    if not paid_by_row:
        return plan
    next_col = max(layout.max_column, max(layout.output_columns.values(), default=0)) + 1
    columns = dict(layout.columns)
    headers = NEW_HEADERS.get(analysis.manual.locale.split("_")[0], NEW_HEADERS["en"])
    for key, wanted in zip(("paid", "payment_date"), headers, strict=True):
        header = _known_header(analysis.manual.column_aliases.get(key, ()), wanted)
        if key not in columns:
            columns[key] = next_col
            plan.added_columns[next_col] = header
            plan.writes.append(CellWrite(layout.header_row, next_col, header))
            next_col += 1
    sheet = layout.sheet
    for row, (invoice, amount, booked) in sorted(paid_by_row.items()):
        before_paid = invoice.paid or Decimal(0)
        after_paid = before_paid + amount
        number = invoice.number or f"row {row}"

        def write(
            key: str, value: Any, before: Any, cached_only: bool = False, row: int = row, number: str = number
        ) -> None:
            col = columns[key]
            plan.writes.append(CellWrite(row, col, value, cached_only))
            header = plan.added_columns.get(col) or layout.headers.get(col, key)
            plan.changes.append(CellChange(f"{sheet}!{column_letter(col)}{row}", header, number, before, value))

        write("paid", after_paid, before_paid)
        write("payment_date", booked, invoice.payment_date)
        if "balance" in columns and invoice.amount is not None:
            write("balance", invoice.amount - after_paid, invoice.balance_cell, cached_only=True)
    return plan


def _known_header(aliases: tuple[str, ...], wanted: str) -> str:
    """``wanted`` if the manual knows the column by that name, else the first name it knows it by."""
    if not aliases or normalize_header(wanted) in {normalize_header(a) for a in aliases}:
        return wanted
    return aliases[0]


def apply_plan(source: Source, analysis: Analysis, plan: PaymentPlan) -> ApplyReport:
    """Write the plan into the workbook or the Google Sheet (each source knows how: ``Source.write_cells``)."""
    cells = {(w.row, w.col): w.value for w in plan.writes}
    cached = {(w.row, w.col) for w in plan.writes if w.cached_only}
    backup = source.write_cells(analysis.data, cells, cached)
    is_file = source.path is not None  # a workbook recalculates its formulas on open; a Google Sheet at once
    return ApplyReport(source.name, plan.changes, list(plan.added_columns.values()), backup, is_file)
