"""A reconciliation shown: the table on the terminal, the CSV for the accountant, the JSON for programs."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from toolkit.payments.matching import OVERPAYMENT, PARTIAL
from toolkit.payments.reconcile import Reconciliation
from toolkit.summary import money
from toolkit.text import printable

CSV_COLUMNS = (
    "outcome",
    "bank_line",
    "date",
    "amount",
    "payer",
    "text",
    "rule",
    "invoice",
    "customer",
    "applied",
    "note",
)


def reconciliation_rows(rec: Reconciliation) -> list[dict[str, Any]]:
    """One row per (bank line, invoice): matched ones first, then those for review with each candidate."""
    rows: list[dict[str, Any]] = []
    for match in rec.matching.matches:
        note = ""
        if match.kind == PARTIAL:
            note = "partial payment"
        elif match.kind == OVERPAYMENT:
            note = f"overpayment: {match.excess} more than the balance; refund it or record a credit"
        for allocation in match.allocations:
            rows.append(_row("matched", match.line, match.rule, allocation.invoice, allocation.amount, note))
    for review in rec.matching.reviews:
        outcome = "ambiguous" if review.ambiguous else "unmatched"
        if not review.candidates:
            rows.append(_row(outcome, review.line, "", None, None, review.reason))
        for invoice in review.candidates:
            rows.append(_row(outcome, review.line, "", invoice, None, review.reason))
    return rows


def _row(outcome: str, line: Any, rule: str, invoice: Any, applied: Decimal | None, note: str) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "bank_line": line.where,
        "date": line.booked.isoformat(),
        "amount": str(line.amount),
        "payer": line.payer,
        "text": " ".join(p for p in (line.reference, line.description) if p),
        "rule": rule,
        "invoice": invoice.number if invoice is not None else "",
        "customer": invoice.customer if invoice is not None else "",
        "applied": str(applied) if applied is not None else "",
        "note": note,
    }


def write_csv(rec: Reconciliation, path: Path) -> None:
    """The reconciliation as CSV (UTF-8 with a BOM, so that Excel reads the accents)."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in reconciliation_rows(rec):
            writer.writerow({key: _csv_safe(value) for key, value in row.items()})


def _csv_safe(value: Any) -> Any:
    """Text from a bank that a spreadsheet would run as a formula is quoted with an apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def reconciliation_json(rec: Reconciliation) -> dict[str, Any]:
    """Everything the table shows, for other programs."""
    applied = rec.applied
    return {
        "source": rec.analysis.source,
        "statements": [{"file": str(s.path), "format": s.kind, "credits": len(s.lines)} for s in rec.statements],
        "already_applied": [line.identity for line in rec.already_applied],
        "repeated_lines": rec.repeated,
        "rows": reconciliation_rows(rec),
        "matched_total": str(rec.matched_total),
        "review_total": str(rec.review_total),
        "applied": None
        if applied is None
        else {
            "target": applied.target,
            "backup": str(applied.backup) if applied.backup else None,
            "added_columns": applied.added_columns,
            "cells": [
                {
                    "cell": c.cell,
                    "column": c.column,
                    "invoice": c.invoice,
                    "before": _plain(c.before),
                    "after": _plain(c.after),
                }
                for c in applied.changes
            ],
        },
        "ledger": str(rec.ledger),
    }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, int | float | bool):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _shown(value: Any, rec: Reconciliation) -> str:
    """A cell's value in the listing of changes: amounts as money, dates ISO, nothing as (empty)."""
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, Decimal):
        return money(value, rec.analysis)
    return str(_plain(value))


def print_reconciliation(console: Console, rec: Reconciliation, apply_hint: str | None) -> None:
    """The proposed matches, those for a person, the totals, and what was written (or how to write it)."""
    analysis = rec.analysis
    files = ", ".join(f"{s.path.name} ({s.kind}, {len(s.lines)} credits)" for s in rec.statements)
    console.print(f"[bold]{escape(printable(analysis.source))}[/]: {escape(printable(files))}")
    for statement in rec.statements:
        if statement.currency and statement.currency != analysis.manual.currency.upper():
            console.print(
                f"[yellow]Note:[/] {escape(printable(statement.path.name))} is in {escape(statement.currency)}, "
                f"the billing manual's currency is {escape(analysis.manual.currency)}: amounts are compared as written."
            )
    if rec.already_applied or rec.repeated:
        console.print(
            f"Left out: {len(rec.already_applied)} line(s) applied already (payments ledger {escape(str(rec.ledger))}), "
            f"{rec.repeated} line(s) given twice."
        )
    for identity in rec.unconfirmed:
        console.print(
            f"[yellow]Check by hand:[/] bank line {escape(identity)} was being applied when an earlier run stopped; "
            "it is not applied again."
        )
    table = Table(title="Payments matched", box=None, pad_edge=False, title_justify="left")
    for column in ("Date", "Invoice", "Paid", "Customer", "Rule", "Bank line"):
        wraps = column in ("Customer", "Rule", "Bank line")  # dates, amounts and invoice numbers stay whole
        table.add_column(
            column,
            overflow="fold",
            no_wrap=not wraps,
            justify="right" if column == "Paid" else "left",
            min_width=9 if wraps else None,
        )
    for match in rec.matching.matches:
        rule = match.rule
        if match.kind == PARTIAL:
            rule += f", partial of {money(match.allocations[0].balance_before, analysis)}"
        elif match.kind == OVERPAYMENT:
            rule += f", overpaid by {money(match.excess, analysis)}"
        elif len(match.allocations) > 1:
            rule += f", {money(match.line.amount, analysis)} in all"
        for allocation in match.allocations:
            table.add_row(
                match.line.booked.isoformat(),
                escape(printable(allocation.invoice.number or "")),
                money(allocation.amount, analysis),
                escape(printable(allocation.invoice.customer or "")),
                rule,
                escape(printable(match.line.where)),
            )
    if rec.matching.matches:
        console.print(table)
    _print_reviews(console, rec)
    invoices = len({a.invoice.row for m in rec.matching.matches for a in m.allocations})
    console.print(
        f"{len(rec.matching.matches)} payment(s) matched to {invoices} invoice(s), "
        f"{money(rec.matched_total, analysis)} to apply; "
        f"{len(rec.matching.reviews)} for review, {money(rec.review_total, analysis)}."
    )
    _print_applied(console, rec, apply_hint)


def _print_reviews(console: Console, rec: Reconciliation) -> None:
    analysis = rec.analysis
    for review in rec.matching.reviews:
        label = "[yellow]Ambiguous[/]" if review.ambiguous else "[yellow]Unmatched[/]"
        line = review.line
        text = " ".join(p for p in (line.payer, line.reference, line.description) if p)
        console.print(
            f"{label} {escape(printable(line.where))} {line.booked.isoformat()} {money(line.amount, analysis)} "
            f"{escape(printable(text))!s}: {escape(review.reason)}"
        )
        for invoice in review.candidates[:10]:
            result = analysis.results.get(invoice.row)
            balance = money(result.balance, analysis) if result and result.balance is not None else "?"
            console.print(
                f"    candidate {escape(printable(invoice.number or ''))} {escape(printable(invoice.customer or ''))}, "
                f"balance {balance}"
            )


def _print_applied(console: Console, rec: Reconciliation, apply_hint: str | None) -> None:
    applied = rec.applied
    if applied is None:
        if rec.matching.matches and apply_hint:
            console.print(f"Nothing was changed. To record the matched payments in the sheet, run:\n  {apply_hint}")
        return
    console.print(f"Wrote {len(applied.changes)} cell(s) in {escape(printable(applied.target))}:")
    for change in applied.changes:
        console.print(
            f"  {escape(printable(change.cell))} {escape(printable(change.column))} "
            f"({escape(printable(change.invoice))}): {_shown(change.before, rec)} -> {_shown(change.after, rec)}"
        )
    if applied.added_columns:
        console.print(f"Added column(s): {', '.join(applied.added_columns)}.")
    if applied.recalculate_on_open:
        console.print("The workbook recalculates its formulas when next opened (totals that depend on Paid).")
    if applied.backup is not None:
        console.print(f"The previous version is kept in {escape(str(applied.backup))}.")
