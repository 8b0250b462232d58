"""The short summary the owner reads after a run, and the findings list of ``check``."""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from toolkit.findings import render
from toolkit.money import currency_format
from toolkit.payments.thanks import THANKS_STAGE
from toolkit.pipeline import Analysis
from toolkit.reminders.schedule import Skipped
from toolkit.report.figures import key_figures
from toolkit.report.render import key_figures_line
from toolkit.rows.aging import CREDIT, ON_HOLD, OPEN, OVERDUE, STATUS_ORDER
from toolkit.source import WriteReport
from toolkit.text import clip, printable

if TYPE_CHECKING:
    from toolkit.reminders.daily import ReminderRun

MAX_LISTED = 10
# A big ledger has a message for nearly every customer: the summary shows the first ones
# (most severe first, the order they are numbered and sent in) and where the rest are.
MAX_MESSAGES_LISTED = 15


def money(amount: Decimal, analysis: Analysis) -> str:
    """An amount as the manual's locale writes it: ``$1,234.56``, ``R$ 1.234,56``."""
    return currency_format(analysis.manual.locale, analysis.manual.currency).format(amount)


def print_summary(console: Console, analysis: Analysis, report: WriteReport | None) -> None:
    """Invoices and amounts per status and aging bucket, the problems, and what was written."""
    totals = analysis.totals()
    labels = analysis.manual.statuses
    count = len(analysis.invoices)
    # The source and sheet names come from outside: never markup, never terminal controls.
    console.print(
        f"[bold]{escape(printable(analysis.source))}[/]: {count} invoice{'s' if count != 1 else ''} on sheet "
        f"'{escape(printable(analysis.data.layout.sheet))}', as of {analysis.as_of.isoformat()}"
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
    credits = totals.by_status.get(CREDIT, (0, Decimal(0)))
    if credits[0]:
        owed = sum((totals.by_status[key][1] for key in (OPEN, OVERDUE, ON_HOLD)), Decimal(0))
        console.print(
            f"Open balance net of credit notes: {money(owed + credits[1], analysis)} "
            f"({money(owed, analysis)} owed, {money(-credits[1], analysis)} in credit notes).",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    print_problems(console, analysis, limit=MAX_LISTED)
    if report is not None:
        if report.changed:
            added = f"; added columns {', '.join(report.added_columns)}" if report.added_columns else ""
            console.print(
                f"Wrote status, days overdue and aging for {len(analysis.results)} invoices to "
                f"{escape(printable(report.target))}{escape(printable(added))}."
            )
            for note in report.notes:
                console.print(f"Note: {note}.", markup=False, highlight=False)
            if report.backup:
                console.print(f"The previous version is kept in {escape(printable(str(report.backup)))}.", style="dim")
        else:
            console.print(f"{escape(printable(report.target))} is already up to date; nothing was written.")
    # What the owner looks at first: total overdue, the oldest bucket (90+) and DSO.
    manual = analysis.manual
    console.print(key_figures_line(key_figures(analysis), manual.currency, manual.locale), style="bold", markup=False)


def totals_rows_note(analysis: Analysis) -> str | None:
    """One line naming the totals and subtotal rows, which are not invoices and get no status; None if none."""
    rows = analysis.data.totals_rows
    if not rows:
        return None
    listed = ", ".join(map(str, rows[:MAX_LISTED])) + (", ..." if len(rows) > MAX_LISTED else "")
    return (
        f"Sheet '{printable(analysis.data.layout.sheet)}': {_plural(len(rows), 'totals row')} "
        f"(row{'s' if len(rows) != 1 else ''} {listed}) left untouched: a TOTAL/Subtotal label or a SUM/SUBTOTAL "
        "formula and no invoice number, so not an invoice and no status written."
    )


def print_problems(console: Console, analysis: Analysis, limit: int | None = None) -> None:
    """The totals rows left alone (if any), then the errors and warnings, the first ``limit`` of them."""
    totals_note = totals_rows_note(analysis)
    if totals_note:
        console.print(totals_note, markup=False, highlight=False, soft_wrap=True)
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
        console.print(printable(render(finding)), style=style, markup=False, highlight=False, soft_wrap=True)
    if limit is not None and len(analysis.findings) > limit:
        console.print(
            f"... and {len(analysis.findings) - limit} more: "
            f"run 'receivables check {escape(printable(analysis.data.locator or analysis.source))}' to see them all."
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
        "totals_rows": list(analysis.data.totals_rows),
        "by_status": {k: {"invoices": n, "balance": str(b)} for k, (n, b) in totals.by_status.items()},
        "by_bucket": {k: {"invoices": n, "balance": str(b)} for k, (n, b) in totals.by_bucket.items()},
    }


# --------------------------------------------------------------------------------------------
# Reminders


def _where(path: Path) -> str:
    """A path as the owner typed it: relative to the current folder when it is inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


def say(console: Console, text: str, style: str | None = None) -> None:
    """Print text as it is: no rich markup (a customer named "[bold]" stays "[bold]"), no terminal controls."""
    console.print(printable(text), style=style, markup=False, highlight=False, soft_wrap=True)


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def print_reminders(console: Console, run: ReminderRun, money_of: Callable[[Decimal], str], send_hint: str) -> None:
    """What the reminders part of the run prepared or sent, what it skipped and why, and what to do next."""
    folder = _where(run.outbox) + os.sep
    schedule = run.schedule
    if run.settled:
        what = "recorded as sent" if run.settled_as == "sent" else "to be sent again"
        when = "when you send" if run.mode == "preview" else "now"
        say(console, f"{_plural(len(run.settled), 'unconfirmed message')} from an earlier run: {what} ({when}).")
    _print_ready(console, run, folder)
    _print_messages(console, run, money_of, folder)
    if run.held_back:
        say(console, f"{_plural(run.held_back, 'more message')} due, left for a later run by --limit.")
    _print_skipped(console, schedule.skipped, schedule.paid)
    broken = schedule.broken_promises
    if broken:
        console.print(f"[yellow]Broken promises ({len(broken)}):[/]")
        for item in broken:
            assert item.broken_promise is not None
            say(
                console,
                f"  {item.invoice.customer} ({item.invoice.number}): promised {item.broken_promise.isoformat()}, "
                f"not paid; the '{item.stage.name}' reminder follows up",
                style="yellow",
            )
    _print_unconfirmed(console, run)
    if run.damaged_journal_lines:
        lines = ", ".join(map(str, run.damaged_journal_lines[:10]))
        say(
            console,
            f"{_where(run.journal)}: {_plural(len(run.damaged_journal_lines), 'damaged line')} ignored ({lines}); "
            "a line cut short by a crash is expected, others mean the file was edited.",
            style="yellow",
        )

    _print_window(console, run)
    if run.mode == "preview":
        _print_preview_end(console, run, folder, send_hint)
        return

    delivered, refused, not_sent = run.delivered(), run.refused(), run.not_sent()
    if delivered:
        customers = len({d.prepared.reminder.customer for d in delivered})
        thanks_sent = [d for d in delivered if d.prepared.reminder.stage.name == THANKS_STAGE.name]
        thanked = len(thanks_sent)
        invoices = sum(len(d.prepared.reminder.items) for d in delivered) - sum(
            len(d.prepared.reminder.items) for d in thanks_sent
        )
        parts = [_plural(invoices, "reminder")] if invoices or not thanked else []
        counted = ", ".join([*parts, _plural(thanked, "thank-you")] if thanked else parts)
        console.print(
            f"[bold green]Sent {escape(_plural(len(delivered), 'message'))}[/] to "
            f"{escape(_plural(customers, 'customer'))} ({escape(counted)}); "
            f"recorded in {escape(_where(run.journal))}, copies in {escape(folder + 'sent')}.",
            soft_wrap=True,
        )
    elif run.messages:
        say(console, "Nothing was sent.")
    for line in run.copies:
        say(console, f"  {line}")
    for delivery in run.deliveries:
        if delivery.outcome == "partial":
            say(console, f"  {delivery.prepared.reminder.customer}: delivered, but {delivery.detail}", style="yellow")
    if refused:
        console.print(f"[red]Refused by the mail server ({len(refused)}):[/]")
        for delivery in refused:
            say(console, f"  {delivery.prepared.reminder.customer}: {delivery.detail}", style="red")
    if run.stopped:
        say(console, f"Sending stopped: {run.stopped}", style="red")
    if run.stopped and not_sent:
        say(
            console,
            f"{_plural(len(not_sent), 'message')} not sent (still in {folder}); "
            "run the same command again to send them: nothing already sent goes twice.",
            style="red",
        )


def _print_window(console: Console, run: ReminderRun) -> None:
    """When it is outside [reminders] send_window: what --send does (nothing) and when the window opens."""
    if not run.window_closed:
        return
    if run.mode == "preview":
        say(console, f"Note: it is now {run.window_closed}; --send sends nothing until then.", style="yellow")
    elif not run.messages:
        say(console, f"Nothing was sent: it is now {run.window_closed}.", style="yellow")


def _print_ready(console: Console, run: ReminderRun, folder: str) -> None:
    """The reminders prepared (or none), then the thank-yous: each counted as what it is."""
    ready = "ready" if run.mode == "preview" else "to send"
    reminders, thanks = run.reminders, run.thanks
    if reminders:
        line = f"{_plural(run.invoice_count, 'reminder')} {ready} for {_plural(run.customer_count, 'customer')}"
        if len(reminders) != run.customer_count:
            line += f" in {_plural(len(reminders), 'message')}"
        console.print(f"[bold]{escape(line)}[/] ({escape(folder)})", soft_wrap=True)
    else:
        console.print("No reminders are due today.")
    if thanks:
        line = f"{_plural(len(thanks), 'thank-you')} {ready} for customers who paid after a reminder"
        console.print(f"[bold]{escape(line)}[/] ({escape(folder)})", soft_wrap=True)


def _print_preview_end(console: Console, run: ReminderRun, folder: str, send_hint: str) -> None:
    """How a preview ends: where the messages are and how to send them, or why they could not be written."""
    if run.outbox_problem:
        say(console, f"Nothing has been sent. {run.outbox_problem}.", style="yellow")
    elif run.messages:
        say(console, f"Nothing has been sent. Check the messages in {folder}, then send them with: {send_hint}")


def _print_unconfirmed(console: Console, run: ReminderRun) -> None:
    """One paragraph per message whose delivery is unknown, with how to settle it."""
    for attempt in run.unconfirmed:
        covered = ", ".join(f"{i.invoice} ({i.stage})" for i in attempt.items)
        how = (
            "was handed to the mail server and the connection was lost before it confirmed"
            if attempt.reason
            else "was being sent when the run stopped"
        )
        say(
            console,
            f"Unconfirmed: the message to {attempt.customer} <{attempt.to}> ({covered}) of {attempt.on.isoformat()} "
            f"{how}; it may or may not have arrived, and is not sent again. "
            "Check with the customer or your mail provider, then run with --send --unconfirmed sent "
            "(it arrived) or --send --unconfirmed resend (send it again).",
            style="yellow",
        )


def _print_messages(console: Console, run: ReminderRun, money_of: Callable[[Decimal], str], folder: str) -> None:
    if not run.messages:
        return
    shown = run.messages[:MAX_MESSAGES_LISTED]
    table = Table(show_edge=False, show_header=True, box=None, pad_edge=False)
    table.add_column("Stage")
    table.add_column("Customer")
    table.add_column("Email")
    table.add_column("Invoices", justify="right")
    table.add_column("Total", justify="right")
    for prepared in shown:
        reminder = prepared.reminder
        table.add_row(
            escape(reminder.stage.name),
            escape(printable(reminder.customer)),
            escape(printable(reminder.email)),
            str(len(reminder.items)),
            escape(money_of(reminder.total if prepared.total_due is None else prepared.total_due)),
        )
    console.print(table)
    more = len(run.messages) - len(shown)
    if more:
        say(console, f"... and {more:,} more, all in {folder}")


_SKIP_ORDER = (
    "refused",
    "no_email",
    "do_not_contact",
    "contact_limit",
    "send_window",
    "on_hold",
    "promised",
    "installments",
    "credited",
    "invalid",
)


def _print_skipped(console: Console, skipped: list[Skipped], paid: int) -> None:
    if not skipped:
        return
    ordered = sorted(skipped, key=lambda s: _SKIP_ORDER.index(s.reason) if s.reason in _SKIP_ORDER else 99)
    console.print(f"Not reminded ({len(skipped)}):")
    for item in ordered[:MAX_LISTED]:
        inv = item.invoice
        who = f"{clip(inv.customer or '?')} ({clip(inv.number or 'row ' + str(inv.row))}, row {inv.row})"
        console.print(printable(f"  {who}: {item.detail}"), markup=False, highlight=False, soft_wrap=True)
    if len(ordered) > MAX_LISTED:
        console.print(f"  ... and {len(ordered) - MAX_LISTED} more.", markup=False, highlight=False)
