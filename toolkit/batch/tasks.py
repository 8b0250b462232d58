"""What a worker does for one client, and the commands over many clients.

``run_clients``, ``check_clients`` and ``report_clients`` are ``receivables run``,
``check`` and ``report`` over a list of clients. Each client runs in a worker process
(``toolkit.batch.workers``) exactly as the command does for one workbook: its own
manual, journal, outbox and backups. Whatever stops one client (a locked workbook, an
invalid manual, an SMTP server that refuses) becomes that client's outcome, and the
others go on.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from toolkit.batch.clients import Client
from toolkit.batch.workers import run_each
from toolkit.errors import BatchError, ToolkitError
from toolkit.manual import MANUAL_FILENAME, BillingManual, find_manual, load_manual
from toolkit.pipeline import Analysis, open_source, run_source
from toolkit.reminders.daily import (
    SEND,
    ReminderOptions,
    journal_path,
    outbox_root,
    reminders_enabled,
    run_daily,
    sent_reminders,
)
from toolkit.report.figures import build_report, key_figures
from toolkit.source import Source

# A client's outcome. STOPPED: the run itself finished, but sending stopped part-way.
DONE, ERRORS_FOUND, STOPPED, FAILED = "done", "errors found", "stopped", "failed"


@dataclass
class ClientResult:
    """One client's line of the summary table."""

    client: str
    target: str
    outcome: str
    detail: str = ""
    invoices: int | None = None
    overdue: Decimal | None = None
    at_risk: Decimal | None = None
    at_risk_column: str = ""
    dso: float | None = None
    currency: str = "USD"
    locale: str = "en_US"
    reminders: int | None = None  # prepared (a preview) or sent (``--send``)
    reminders_sent: bool = False
    errors: int = 0
    warnings: int = 0
    page: Path | None = None  # report --html: the client's own page
    details: dict[str, Any] | None = None  # --json: the client's whole result

    @property
    def failed(self) -> bool:
        """Whether the command did not finish for this client (what the exit status reports)."""
        return self.outcome in (FAILED, STOPPED)


@dataclass
class BatchOptions:
    """What applies to every client of a batch."""

    as_of: date
    manual: Path | None = None  # --manual: for every client the clients file gives none
    reminders: ReminderOptions = field(default_factory=ReminderOptions)
    as_json: bool = False  # keep each client's whole result for --json
    pages: dict[str, Path] = field(default_factory=dict)  # report --html: client target -> its page


Progress = Callable[[ClientResult], None]


# -- the commands -------------------------------------------------------------------------


def run_clients(
    clients: Sequence[Client], options: BatchOptions, jobs: int, done: Progress | None = None
) -> list[ClientResult]:
    """``receivables run`` for every client; with ``--send`` the SMTP rate limit is shared by the workers."""
    if options.reminders.outbox is not None:
        raise BatchError(
            "--outbox is for one workbook: in a batch each client keeps its own outbox (next to its workbook, or its manual's [reminders] outbox)"
        )
    refused = shared_reminder_files(clients, options.manual)
    todo = [c for c in clients if c.target not in refused]
    with ExitStack() as stack:
        if options.reminders.send:
            # Ctrl-C reaches every process of the batch: the manager of the shared rate limit
            # outlives it, so that workers still sending finish their message and record it.
            from multiprocessing.managers import SyncManager

            from toolkit.batch.pace import SharedPace

            manager = SyncManager()
            manager.start(_ignore_interrupts)
            stack.callback(manager.shutdown)
            options = dataclasses.replace(
                options, reminders=dataclasses.replace(options.reminders, pace=SharedPace(manager))
            )
        results = _each(todo, run_client, options, jobs, done)
    by_target = {r.target: r for r in results}
    return [by_target.get(c.target) or failure(c, refused[c.target]) for c in clients]


def check_clients(
    clients: Sequence[Client], options: BatchOptions, jobs: int, done: Progress | None = None
) -> list[ClientResult]:
    """``receivables check`` for every client."""
    return _each(clients, check_client, options, jobs, done)


def report_clients(
    clients: Sequence[Client], options: BatchOptions, jobs: int, done: Progress | None = None
) -> list[ClientResult]:
    """``receivables report`` for every client (with its own page when ``options.pages`` names one)."""
    return _each(clients, report_client, options, jobs, done)


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def page_names(clients: Sequence[Client], folder: Path) -> dict[str, Path]:
    """A page file in ``folder`` for each client: its position and its name, made safe for a file name."""
    pages = {}
    for number, client in enumerate(clients, start=1):
        slug = re.sub(r"[^A-Za-z0-9]+", "-", client.name.removesuffix(".xlsx").removesuffix(".xlsm")).strip("-")
        pages[client.target] = folder / f"{number:03d}-{slug[:60] or 'client'}.html"
    return pages


def _each(
    clients: Sequence[Client],
    task: Callable[[Client, BatchOptions], ClientResult],
    options: BatchOptions,
    jobs: int,
    done: Progress | None,
) -> list[ClientResult]:
    told = (lambda _, result: done(result)) if done is not None else None
    return run_each(clients, _Task(task, options), failure, jobs, told)


@dataclass(frozen=True)
class _Task:
    """One client's work with the batch's options (a plain object, so any start method can send it)."""

    task: Callable[[Client, BatchOptions], ClientResult]
    options: BatchOptions

    def __call__(self, client: Client) -> ClientResult:
        return self.task(client, self.options)


# -- one client ---------------------------------------------------------------------------


def run_client(client: Client, options: BatchOptions) -> ClientResult:
    """What ``receivables run WORKBOOK`` does, for one client."""
    try:
        source, manual = open_client(client, options.manual, writes=True)
        source.check_writable()
        result = run_daily(source, manual, options.as_of, options.reminders, workbook=client.workbook)
    except ToolkitError as exc:
        return failure(client, str(exc))
    row = figures_of(client, result.analysis)
    run = result.reminders
    if run is None:
        return row
    notes = []
    if run.mode == SEND:
        row.reminders, row.reminders_sent = len(run.delivered()), True
        if run.refused():
            notes.append(f"{len(run.refused())} refused by the server")
    else:
        row.reminders = len(run.messages)
    if run.held_back:
        notes.append(f"{run.held_back} held back by --limit")
    if run.unconfirmed:
        notes.append(f"{len(run.unconfirmed)} unconfirmed (settle with --unconfirmed)")
    if run.stopped:
        row.outcome = STOPPED
        notes.insert(0, f"sending stopped: {run.stopped}")
    row.detail = "; ".join(notes)
    return row


def check_client(client: Client, options: BatchOptions) -> ClientResult:
    """What ``receivables check WORKBOOK`` does, for one client."""
    try:
        source, manual = open_client(client, options.manual, writes=False)
        analysis, _ = run_source(source, manual, options.as_of, write=False)
    except ToolkitError as exc:
        return failure(client, str(exc))
    row = figures_of(client, analysis)
    if analysis.errors:
        row.outcome = ERRORS_FOUND
    if options.as_json:
        from toolkit.summary import analysis_json

        row.details = analysis_json(analysis)
    return row


def report_client(client: Client, options: BatchOptions) -> ClientResult:
    """What ``receivables report WORKBOOK [--html PAGE]`` does, for one client."""
    try:
        source, manual = open_client(client, options.manual, writes=False)
        analysis, _ = run_source(source, manual, options.as_of, write=False)
        report = build_report(analysis, reminders=sent_reminders(manual, client.workbook))
        row = figures_of(client, analysis)
        page = options.pages.get(client.target)
        if page is not None or options.as_json:
            from toolkit.report.render import report_json, write_html

            if page is not None:
                write_html(report, page, [client.workbook] if client.workbook else [])
                row.page = page
            if options.as_json:
                row.details = report_json(report)
    except ToolkitError as exc:
        return failure(client, str(exc))
    return row


def open_client(client: Client, default_manual: Path | None, *, writes: bool) -> tuple[Source, BillingManual]:
    """The client's source and manual, found as for one workbook on the command line."""
    return open_source(client.target, manual_for(client, default_manual), writes=writes)


def manual_for(client: Client, default_manual: Path | None) -> Path | None:
    """The clients file's manual, else --manual, else billing-manual.toml next to the workbook
    (for a Google Sheet: in the current folder), else None for the built-in defaults."""
    if client.manual is not None or default_manual is not None:
        return client.manual or default_manual
    if client.is_google_sheet:
        here = Path(MANUAL_FILENAME)
        return here if here.is_file() else None
    return find_manual(Path(client.target))


def figures_of(client: Client, analysis: Analysis) -> ClientResult:
    """The summary line of a client whose workbook was read: invoices, overdue, 90+, DSO, problems."""
    figures = key_figures(analysis)
    manual = analysis.manual
    return ClientResult(
        client.name,
        client.target,
        DONE,
        invoices=len(analysis.invoices),
        overdue=figures.overdue,
        at_risk=figures.at_risk,
        at_risk_column=figures.at_risk_column,
        dso=figures.dso.dso if figures.dso is not None else None,
        currency=manual.currency,
        locale=manual.locale,
        errors=len(analysis.errors),
        warnings=len(analysis.warnings),
    )


def failure(client: Client, reason: str) -> ClientResult:
    """The summary line of a client the command could not finish."""
    return ClientResult(client.name, client.target, FAILED, reason)


def shared_reminder_files(clients: Sequence[Client], default_manual: Path | None) -> dict[str, str]:
    """Clients whose send journal or outbox another client of the batch would use too, with why.

    Two clients writing one journal would mix their records (and the second would wait
    on the first's lock), so neither is run: each needs a folder of its own, or its
    own ``[reminders] journal`` and ``outbox``.
    """
    owners: dict[tuple[str, str], list[Client]] = {}
    for client in clients:
        try:
            manual = load_manual(manual_for(client, default_manual))
        except ToolkitError:
            continue  # the worker reports it
        if not reminders_enabled(manual):
            continue
        for what, place in (
            ("send journal", journal_path(manual, client.workbook)),
            ("outbox", outbox_root(manual, client.workbook)),
        ):
            owners.setdefault((what, os.path.realpath(place)), []).append(client)
    refused: dict[str, str] = {}
    for (what, path), sharing in owners.items():
        if len(sharing) < 2:
            continue
        for client in sharing:
            others = ", ".join(c.name for c in sharing if c is not client)
            refused.setdefault(
                client.target,
                f"{client.target}: its {what} {path} would also be {others}'s; nothing was done. Put each "
                "client's workbook in a folder of its own, or give each its own [reminders] journal and outbox",
            )
    return refused
