"""The portfolio page of ``receivables report --html`` over many clients.

One self-contained page with one row per client (invoices, overdue, the oldest
bucket, DSO, problems, outcome) and a link to that client's own report page, which
is written into a folder next to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date
from html import escape
from pathlib import Path
from urllib.parse import quote

from toolkit.batch.clients import Client
from toolkit.batch.summary import batch_line
from toolkit.batch.tasks import BatchOptions, ClientResult, Progress, page_names, report_clients
from toolkit.report.render import Formats, ReportWriteError, write_report_file

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #1f2933; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: .35rem .6rem; border-bottom: 1px solid #d9e2ec; text-align: right; }
th:first-child, td:first-child, td.outcome { text-align: left; }
tr.failed td { color: #b42318; }
p.detail { color: #52606d; font-size: .9rem; }
"""


def pages_folder(page: Path) -> Path:
    """Where each client's own page goes: a folder named after the portfolio page (``clients.html`` -> ``clients/``)."""
    return page.with_suffix("")


def render_portfolio(results: Sequence[ClientResult], as_of: date) -> str:
    """The portfolio page as HTML text; every text from a workbook or a manual is escaped."""
    rows = "\n".join(_row(r) for r in results)
    details = "\n".join(
        f'<p class="detail">{escape(r.client)}: {escape(r.detail)}</p>' for r in results if r.detail and r.failed
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Receivables portfolio, {as_of.isoformat()}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Receivables portfolio</h1>
<p>As of {as_of.isoformat()}. {escape(batch_line(results))} Each client's name opens its own report.</p>
<table>
<thead><tr><th>Client</th><th>Invoices</th><th>Overdue</th><th>90+</th><th>DSO (days)</th><th>Problems</th><th>Outcome</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
{details}
</body>
</html>
"""


def report_portfolio(
    clients: Sequence[Client], options: BatchOptions, jobs: int, page: Path, done: Progress | None = None
) -> list[ClientResult]:
    """``receivables report --html PAGE`` over many clients: each client's page, then the portfolio page."""
    folder = pages_folder(page)
    write_report_file(page, render_portfolio([], options.as_of))  # fails here, before any work, if it cannot
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise ReportWriteError(f"{folder}: cannot make the folder for the clients' pages ({exc.strerror})") from None
    options = dataclasses.replace(options, pages=page_names(clients, folder))
    results = report_clients(clients, options, jobs, done)
    write_portfolio(results, page, options.as_of)
    return results


def write_portfolio(results: Sequence[ClientResult], page: Path, as_of: date) -> None:
    """Write the portfolio page (the clients' own pages are written by their workers)."""
    write_report_file(page, render_portfolio(results, as_of))


def _row(result: ClientResult) -> str:
    f = Formats(result.currency, result.locale)
    name = escape(result.client)
    if result.page is not None:
        link = f"{result.page.parent.name}/{result.page.name}"
        name = f'<a href="{escape(quote(link), quote=True)}">{name}</a>'
    read = result.invoices is not None
    cells = [
        name,
        f"{result.invoices:,}" if read else "–",
        escape(f.money(result.overdue)) if read else "–",
        escape(f.money(result.at_risk)) if read else "–",
        f"{result.dso:.1f}" if result.dso is not None else "–",
        f"{result.errors} errors, {result.warnings} warnings" if read else "–",
    ]
    row = "".join(f"<td>{cell}</td>" for cell in cells)
    css = ' class="failed"' if result.failed else ""
    return f'<tr{css}>{row}<td class="outcome">{escape(result.outcome)}</td></tr>'
