"""The short summary the owner reads after a run, and the findings list of ``check``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel.numbers import format_currency
from rich.console import Console
from rich.table import Table

from toolkit.aging import STATUS_ORDER
from toolkit.findings import render
from toolkit.pipeline import Analysis, WriteReport
from toolkit.report import key_figures
from toolkit.report_render import key_figures_line

MAX_LISTED = 10


def money(amount: Decimal, analysis: Analysis) -> str:
    return format_currency(amount, analysis.manual.currency, locale=analysis.manual.locale)


def print_summary(console: Console, analysis: Analysis, report: WriteReport | None) -> None:
    """Invoices and amounts per status and aging bucket, the problems, and what was written."""
    totals = analysis.totals()
    labels = analysis.manual.statuses
    count = len(analysis.invoices)
    console.print(
        f"[bold]{analysis.source}[/]: {count} invoice{'s' if count != 1 else ''} on sheet "
        f"'{analysis.data.layout.sheet}', as of {analysis.as_of.isoformat()}"
    )
    status_table = Table(title="By status", title_justify="left", show_edge=False)
    status_table.add_column("Status")
    status_table.add_column("Invoices", justify="right")
    status_table.add_column("Balance", justify="right")
    for key in STATUS_ORDER:
        n, amount = totals.by_status[key]
        if n:
            status_table.add_row(labels[key], str(n), "" if key in ("paid", "invalid") else money(amount, analysis))
    aging_table = Table(title="Aging of unpaid invoices", title_justify="left", show_edge=False)
    aging_table.add_column("Bucket")
    aging_table.add_column("Invoices", justify="right")
    aging_table.add_column("Balance", justify="right")
    for label, (n, amount) in totals.by_bucket.items():
        aging_table.add_row(label, str(n), money(amount, analysis))
    console.print(status_table)
    console.print(aging_table)
    print_problems(console, analysis, limit=MAX_LISTED)
    if report is not None:
        if report.changed:
            added = f"; added columns {', '.join(report.added_columns)}" if report.added_columns else ""
            console.print(
                f"Wrote status, days overdue and aging for {len(analysis.results)} invoices to {report.target}{added}."
            )
            for note in report.notes:
                console.print(f"Note: {note}.", markup=False, highlight=False)
            if report.backup:
                console.print(f"The previous version is kept in {report.backup}.", style="dim")
        else:
            console.print(f"{report.target} is already up to date; nothing was written.")
    # What the owner looks at first: total overdue, the oldest bucket (90+) and DSO.
    manual = analysis.manual
    console.print(key_figures_line(key_figures(analysis), manual.currency, manual.locale), style="bold", markup=False)


def print_problems(console: Console, analysis: Analysis, limit: int | None = None) -> None:
    errors, warnings = len(analysis.errors), len(analysis.warnings)
    if not errors and not warnings:
        console.print("No problems found.", style="green")
        return
    console.print(
        f"[bold]{errors} error{'s' if errors != 1 else ''}[/] (rows marked Invalid), "
        f"{warnings} warning{'s' if warnings != 1 else ''}:"
    )
    shown = analysis.findings if limit is None else analysis.findings[:limit]
    for finding in shown:
        style = "red" if finding.is_error else "yellow"
        console.print(render(finding), style=style, markup=False, highlight=False, soft_wrap=True)
    if limit is not None and len(analysis.findings) > limit:
        console.print(
            f"... and {len(analysis.findings) - limit} more: run 'receivables check {analysis.data.locator or analysis.source}' to see them all."
        )


def analysis_json(analysis: Analysis) -> dict[str, Any]:
    """The check result for machines."""
    totals = analysis.totals()
    return {
        "source": analysis.source,
        "sheet": analysis.data.layout.sheet,
        "as_of": analysis.as_of.isoformat(),
        "invoices": len(analysis.invoices),
        "errors": totals.errors,
        "warnings": totals.warnings,
        "findings": [f.as_dict() for f in analysis.findings],
        "by_status": {k: {"invoices": n, "balance": str(b)} for k, (n, b) in totals.by_status.items()},
        "by_bucket": {k: {"invoices": n, "balance": str(b)} for k, (n, b) in totals.by_bucket.items()},
    }
