"""The one table a command over many clients ends with, and its JSON form."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from toolkit.batch.tasks import DONE, ClientResult
from toolkit.report.render import Formats
from toolkit.text import printable


def print_batch(console: Console, results: Sequence[ClientResult], *, reminders: bool = False) -> None:
    """One row per client (invoices, overdue, 90+, DSO, reminders, problems, outcome), then why any failed."""
    table = Table(title="Clients", title_justify="left", show_edge=False, collapse_padding=True)
    # The client's name is what the owner reads first: never squeezed away, folded when long.
    name_width = min(max((len(r.client) for r in results), default=6), 24)
    table.add_column("Client", min_width=max(name_width, 6), overflow="fold")
    for name in ("Invoices", "Overdue", "90+", "DSO"):
        table.add_column(name, justify="right", no_wrap=True)
    if reminders:
        table.add_column("Reminders", justify="right", no_wrap=True)
    table.add_column("Problems", justify="right", no_wrap=True)
    table.add_column("Outcome", min_width=6, overflow="fold")
    for result in results:
        table.add_row(*_cells(result, reminders))
    console.print(table)
    for result in results:
        if result.detail:
            style = "red" if result.failed else None
            console.print(
                f"{printable(result.client)}: {printable(result.detail)}",
                style=style,
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    console.print(batch_line(results), style="bold", markup=False, highlight=False)


def batch_line(results: Sequence[ClientResult]) -> str:
    """``300 clients: 297 done, 2 failed, 1 stopped.``"""
    counts = Counter(r.outcome for r in results)
    parts = [f"{counts.pop(DONE)} done"] if DONE in counts else []
    parts += [f"{n} {outcome}" for outcome, n in sorted(counts.items())]
    return f"{len(results)} client{'s' if len(results) != 1 else ''}: {', '.join(parts)}."


def batch_json(results: Sequence[ClientResult]) -> dict[str, Any]:
    """The batch for other programs: one entry per client, with its whole result when it has one."""
    return {
        "clients": [
            {
                "client": r.client,
                "workbook": r.target,
                "outcome": r.outcome,
                "detail": r.detail,
                "invoices": r.invoices,
                "overdue": None if r.overdue is None else str(r.overdue),
                "at_risk_column": r.at_risk_column,
                "at_risk": None if r.at_risk is None else str(r.at_risk),
                "dso": r.dso,
                "currency": r.currency,
                "errors": r.errors,
                "warnings": r.warnings,
                "reminders": r.reminders,
                "reminders_sent": r.reminders_sent,
                "result": r.details,
            }
            for r in results
        ],
        "failed": sum(1 for r in results if r.failed),
    }


def _cells(result: ClientResult, reminders: bool) -> list[str]:
    read = result.invoices is not None
    f = Formats(result.currency, result.locale)
    cells = [
        printable(result.client),
        f"{result.invoices:,}" if read else "–",
        f.whole(result.overdue) if read and result.overdue is not None else "–",
        f.whole(result.at_risk) if read and result.at_risk is not None else "–",
        f"{result.dso:.0f} d" if result.dso is not None else "–",
    ]
    if reminders:
        verb = "sent" if result.reminders_sent else "prepared"
        cells.append(f"{result.reminders} {verb}" if result.reminders is not None else "–")
    problems = f"{result.errors} err {result.warnings} warn" if result.errors or result.warnings else "none"
    cells += [problems if read else "–", result.outcome]
    return cells
