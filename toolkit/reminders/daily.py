"""The daily run with reminders: analyse, then preview or send the reminders due, then write the sheet.

``run_daily`` is what ``receivables run`` does:

1. read the invoices and compute status and aging (``toolkit.pipeline``);
2. plan today's reminders from the manual's schedule, the send journal and the
   sheet's ``Reminder Stage`` / ``Last Reminder`` columns (``toolkit.reminders.schedule``);
3. render one message per customer and write them as ``.eml`` files into the
   day's outbox folder (``toolkit.reminders.compose``);
4. only with ``send``: send them over SMTP (``toolkit.reminders.smtp``), writing each to the
   journal (``toolkit.reminders.journal``) before and after it goes;
5. write the computed columns, and the reminder columns of what was sent, into the
   sheet once, at the end.

A preview (the default) sends nothing and records nothing as sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Any

from toolkit.errors import (
    CustomerNotFound,
    JournalError,
    MailAuthError,
    MailConnectionError,
    ManualError,
    OutboxBusy,
    ToolkitError,
)
from toolkit.findings import Finding, sort_key
from toolkit.manual import BillingManual
from toolkit.payments.thanks import THANKS_STAGE, plan_thanks
from toolkit.pipeline import (
    Analysis,
    analyse,
    check_own_columns,
    collections_again,
    computed_keys,
    fewer_collections,
    plan_columns,
)
from toolkit.policy.contact import (
    contact_limit,
    customer_time_zones,
    describe,
    do_not_contact,
    outside_window,
    send_window,
)
from toolkit.reminders.alongside import build_messages
from toolkit.reminders.compose import (
    MessageBuilder,
    PreparedMessage,
    Reminder,
    group_by_customer,
    outbox_folder,
    sender_address,
    write_outbox,
)
from toolkit.reminders.journal import (
    JOURNAL_FILENAME,
    Attempt,
    Journal,
    JournalContents,
    JournalWriter,
    resolve_in_memory,
)
from toolkit.reminders.locks import hold_outbox
from toolkit.reminders.schedule import (
    SKIP_UNDER_REVIEW,
    Schedule,
    Skipped,
    as_date,
    build_history,
    invoice_key,
    plan_reminders,
    stage_index,
)
from toolkit.reminders.sending import (
    DELIVERED,
    NOT_SENT,
    PARTIAL,
    REFUSED,
    Delivery,
    journal_full,
    owed_copies,
    received_by_address,
    send_all,
    send_copies,
)
from toolkit.reminders.smtp import Mailer, SmtpSettings, smtp_settings
from toolkit.rows.aging import INVALID
from toolkit.source import Source, WriteReport
from toolkit.text import normalize_header

REMINDER_KEYS = ("last_reminder", "reminder_stage")
PREVIEW, SEND = "preview", "send"


@dataclass
class ReminderOptions:
    """How ``receivables run`` handles reminders."""

    send: bool = False
    outbox: Path | None = None  # the outbox root; the day's folder goes inside
    limit: int | None = None  # at most this many messages
    unconfirmed: str | None = None  # settle unconfirmed messages: "sent" or "resend"
    now: Callable[[], datetime] = lambda: datetime.now(UTC)  # the clock the send window is read on
    statements: list[Path] = field(default_factory=list)  # bank statements reconciled (and applied) first
    # Invoices a bank payment may be for, waiting for a person (receivables reconcile): not chased today.
    under_review: frozenset[str] = frozenset()
    pace: Callable[[str, float], None] | None = None  # the rate limit shared by a batch's workers


@dataclass
class ReminderRun:
    """What the reminders part of a run did, for the summary."""

    mode: str  # PREVIEW or SEND
    schedule: Schedule
    messages: list[PreparedMessage]  # the messages of this run (after --limit)
    held_back: int  # messages due but left for a later run by --limit
    outbox: Path
    journal: Path
    deliveries: list[Delivery] = field(default_factory=list)
    stopped: str | None = None  # why sending stopped before the end
    unconfirmed: list[Attempt] = field(default_factory=list)  # still unsettled
    settled: list[Attempt] = field(default_factory=list)  # settled by this run's --unconfirmed
    settled_as: str | None = None  # how: "sent" or "resend"
    damaged_journal_lines: list[int] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # for the Problems column
    outbox_problem: str | None = None  # why the previews could not be written (the run went on)
    window_closed: str | None = None  # outside [reminders] send_window: when it opens next
    copies: list[str] = field(default_factory=list)  # deferred copies sent by this run, one line each

    @property
    def reminders(self) -> list[PreparedMessage]:
        """The messages that remind of something due (not the thank-yous)."""
        return [m for m in self.messages if m.reminder.stage is not THANKS_STAGE]

    @property
    def thanks(self) -> list[PreparedMessage]:
        """The thank-yous to customers who paid after a reminder."""
        return [m for m in self.messages if m.reminder.stage is THANKS_STAGE]

    @property
    def invoice_count(self) -> int:
        """Invoices reminded in this run's reminders (a message may cover several; thank-yous are not counted)."""
        return sum(len(m.reminder.items) for m in self.reminders)

    @property
    def customer_count(self) -> int:
        """Customers this run's reminders go to (thank-yous are not counted)."""
        return len({normalize_header(m.reminder.customer) for m in self.reminders})

    def delivered(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.outcome in (DELIVERED, PARTIAL)]

    def refused(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.outcome == REFUSED]

    def not_sent(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.outcome == NOT_SENT]


@dataclass
class DailyResult:
    """Everything one ``receivables run`` did."""

    analysis: Analysis
    report: WriteReport | None
    reminders: ReminderRun | None
    reconciliation: Any = None  # toolkit.payments.reconcile.Reconciliation, with --statement
    statements: Any = None  # toolkit.statements.monthly.StatementRun, when monthly statements are due


# --------------------------------------------------------------------------------------------
# Where things go


def _relative_to_manual(manual: BillingManual, value: str, fallback: Path) -> Path:
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    base = manual.path.parent if manual.path is not None else fallback
    return base / path


def _reminders_place(manual: BillingManual, workbook: Path | None, key: str) -> tuple[Path, str]:
    """The folder a default place sits in (the workbook's, else the manual's, else here), and ``[reminders] key``."""
    folder = workbook.parent if workbook is not None else (manual.path.parent if manual.path else Path.cwd())
    return folder, str(manual.section("reminders").get(key, "")).strip()


def journal_path(manual: BillingManual, workbook: Path | None) -> Path:
    """``[reminders] journal``, else ``receivables-journal.jsonl`` next to the workbook."""
    folder, configured = _reminders_place(manual, workbook, "journal")
    if not configured:
        return folder / JOURNAL_FILENAME
    path = _relative_to_manual(manual, configured, folder)
    if path.exists() and not path.is_file():
        raise ManualError(
            f"{manual.source}: [reminders] journal {configured!r} is not a regular file (a device, a folder or "
            "a pipe); name a file, e.g. receivables-journal.jsonl next to the workbook"
        )
    return path


def outbox_root(manual: BillingManual, workbook: Path | None, given: Path | None = None) -> Path:
    """``--outbox``, else ``[reminders] outbox``, else a folder ``outbox`` next to the workbook."""
    if given is not None:
        return given
    folder, configured = _reminders_place(manual, workbook, "outbox")
    if not configured:
        return folder / "outbox"
    path = _relative_to_manual(manual, configured, folder)
    if path.exists() and not path.is_dir():
        raise ManualError(
            f"{manual.source}: [reminders] outbox {configured!r} is not a folder; name a folder "
            "(it is created when missing), e.g. outbox next to the workbook"
        )
    return path


def reminders_enabled(manual: BillingManual) -> bool:
    return bool(manual.section("reminders").get("enabled", True)) and bool(manual.reminder_stages)


# --------------------------------------------------------------------------------------------
# Planning


def plan_today(
    analysis: Analysis, contents: JournalContents, under_review: frozenset[str] = frozenset()
) -> tuple[Schedule, list[Finding]]:
    """Today's schedule from the analysis and the journal; plus findings about the sheet's reminder columns.

    Invoices ``under_review`` (a bank payment may be for them) are skipped today.
    """
    invoices = analysis.invoices
    history, findings = build_history(invoices, contents.attempts, analysis.manual, analysis.data.layout)
    schedule = plan_reminders(
        invoices, analysis.results, analysis.manual, analysis.as_of, history, analysis.data.layout
    )
    # The collection policy: nobody who asked not to be contacted, nobody twice within min_days_between.
    schedule = do_not_contact(schedule, invoices.unpacked(), analysis.manual)  # no packed invoice is marked
    schedule = contact_limit(schedule, contents.attempts, invoices, analysis.manual, analysis.as_of)
    if under_review:
        held = [d for d in schedule.due if (d.invoice.number or "") in under_review]
        schedule.due = [d for d in schedule.due if (d.invoice.number or "") not in under_review]
        schedule.skipped += [
            Skipped(d.invoice, SKIP_UNDER_REVIEW, "payment under review: a bank payment may be for it") for d in held
        ]
    return schedule, findings + schedule.findings


def within_send_window(analysis: Analysis, schedule: Schedule, now: datetime) -> tuple[Schedule, str | None]:
    """Today's schedule less the reminders outside ``[reminders] send_window`` now; and, when the
    company's own window is closed, when it opens next (for the summary)."""
    window = send_window(analysis.manual)
    if window is None:
        return schedule, None
    zones = customer_time_zones(analysis.data, analysis.manual)
    schedule = outside_window(schedule, window, now, zones)
    if window.is_open(now):
        return schedule, None
    opening = window.next_opening(now)
    when = f"the next window opens {describe(opening)}" if opening else "it never opens"
    return schedule, f"outside the send window {window.text} ({window.zone}): {when}"


def prepare_messages(
    analysis: Analysis,
    schedule: Schedule,
    sender: str,
    limit: int | None = None,
    thanks: list[Reminder] | None = None,
) -> tuple[list[PreparedMessage], int]:
    """Render every message due (at most ``limit``), reminders then thank-yous; returns them and how many wait."""
    manual = analysis.manual
    reminders = group_by_customer(schedule.due, manual.reminder_stages) + (thanks or [])
    builder = MessageBuilder(manual, analysis.as_of, sender, charges=analysis.late_charges())  # checks templates first
    from toolkit.statements.attach import StatementAttacher  # a long list of invoices attaches the statement

    builder.attachments_for = StatementAttacher(analysis).files_for_reminder
    chosen = reminders if limit is None else reminders[:limit]
    with collections_again():  # a statement's PDF is a graph of objects in cycles, freed only by the collector
        messages = build_messages(builder, chosen)  # on two cores, where there are two
    return messages, len(reminders) - len(chosen)


# --------------------------------------------------------------------------------------------
# The run


def run_daily(
    source: Source,
    manual: BillingManual,
    as_of: date,
    options: ReminderOptions,
    *,
    workbook: Path | None,
    env: Mapping[str, str] = os.environ,
    progress: Callable[[int], None] | None = None,
) -> DailyResult:
    """Read and analyse, preview or send the reminders due, then write the sheet (once)."""
    try:
        with fewer_collections():
            return _run_daily(source, manual, as_of, options, workbook, env, progress)
    finally:
        source.close()


def _run_daily(
    source: Source,
    manual: BillingManual,
    as_of: date,
    options: ReminderOptions,
    workbook: Path | None,
    env: Mapping[str, str],
    progress: Callable[[int], None] | None,
) -> DailyResult:
    reconciliation = None
    if options.statements:
        # Payments first: a customer who paid yesterday is not chased today.
        from toolkit.payments.reconcile import reconcile, under_review

        reconciliation = reconcile(
            source, manual, options.statements, as_of, journal=journal_path(manual, workbook), apply=True
        )
        options.under_review = options.under_review | under_review(reconciliation)
    data = source.read(manual, progress)
    # Before a reminder is sent, the sheet read must have passed its checks. A run that only
    # previews them leaves that to the write: the check of the sheet it writes covers the sheet read.
    analysis = analyse(data, manual, as_of, confirm=options.send)
    # A column of the accountant's named like one of ours refuses the write: before anything is sent.
    keys: tuple[str, ...] = computed_keys(manual)
    check_own_columns(data.layout, manual, (*keys, *REMINDER_KEYS) if options.send else keys)
    if not reminders_enabled(manual):
        report = source.write(data, plan_columns(data.layout, manual), analysis.computed_values())
        return DailyResult(analysis, report, None, reconciliation)

    journal = Journal(journal_path(manual, workbook))
    outbox = outbox_folder(outbox_root(manual, workbook, options.outbox), as_of)
    if options.send:
        # Settings first: a missing password stops the run before anything is prepared.
        settings = smtp_settings(
            manual.section("smtp"),
            env,
            source=manual.source,
            default_from=str(manual.section("company").get("email", "")),
        )
        # Both held until the end: one sending run at a time, and no preview rewriting its outbox.
        # The collector on again for the messages (see ``pipeline.collections_again``).
        with journal.writer() as writer, hold_outbox(outbox), collections_again():
            run = _send(analysis, journal, writer, settings, outbox, options)
            sender = _from_header(manual, settings)
            statements = _monthly_statements(analysis, journal, outbox, sender, run, (writer, settings))
    else:
        refuse_while_sending(outbox)  # before the sheet is written: the send writes it when it ends
        run = _preview(analysis, journal, outbox, options, env)
        statements = _monthly_statements(analysis, journal, outbox, sender_address(manual, env), run, None)

    analysis.findings = sorted([*analysis.findings, *run.findings], key=sort_key)
    values = analysis.computed_values()
    columns_written = reminder_column_values(analysis, journal.read())
    keys = computed_keys(manual)
    if columns_written or any(k in data.layout.output_columns for k in REMINDER_KEYS):
        keys = (*keys, *REMINDER_KEYS)
        values.add_columns(REMINDER_KEYS, columns_written)
    try:
        report = source.write(data, plan_columns(data.layout, manual, keys), values)
    except ToolkitError as exc:
        if run.delivered():
            raise type(exc)(
                f"{exc} — the {len(run.delivered())} reminder(s) sent are recorded in {journal.path}; "
                "the next run writes them into the sheet and does not send them again"
            ) from None
        raise
    if run.mode == PREVIEW:
        with collections_again():  # a message with attachments is written by the email library: cycles
            write_previews(run, statements)
    return DailyResult(analysis, report, run, reconciliation, statements)


def refuse_while_sending(outbox: Path) -> None:
    """Refuse a preview (``OutboxBusy``) while a send is using its outbox folder; nothing is written then.

    A folder that cannot be written is no reason to refuse: ``write_previews`` notes it.
    """
    if not outbox.is_dir():
        return  # a send creates and holds the folder: none is using this one
    try:
        with hold_outbox(outbox):
            pass
    except OutboxBusy:
        raise
    except ToolkitError:
        return


def write_previews(run: ReminderRun, statements: Any = None) -> None:
    """Write a preview run's messages (and the month's statements) into its outbox; a folder that cannot take them is noted.

    Nothing is sent in a preview, so an outbox that cannot be written (read-only, full) does not
    undo the sheet written; the summary says so and how to choose another folder.
    """
    try:
        with hold_outbox(run.outbox):  # a send from this folder is not disturbed: the preview is refused
            write_outbox(run.messages, run.outbox)
            if statements is not None:
                from toolkit.statements import monthly

                monthly.write_previews(statements, run.outbox)
    except ToolkitError as exc:
        run.outbox_problem = f"{exc}; the previews were not written (the sheet was)"


def _monthly_statements(
    analysis: Analysis,
    journal: Journal,
    outbox: Path,
    sender: str,
    run: ReminderRun,
    sending: tuple[JournalWriter, SmtpSettings] | None,
) -> Any:
    """The month's statements ([statements] monthly): previewed, or sent through the journal after the reminders."""
    from toolkit.statements import monthly

    if not monthly.statements_enabled(analysis):
        return None
    with collections_again():  # a PDF per statement: see ``prepare_messages``
        statements = monthly.plan_statements(analysis, journal.read(), sender, SEND if sending else PREVIEW)
    if sending is not None:  # a preview's are written once the sheet is (``write_previews``)
        monthly.write_previews(statements, outbox)
        writer, settings = sending
        if run.stopped or run.window_closed:  # the send window holds statements too
            statements.stopped = f"not sent: {run.stopped or f'it is now {run.window_closed}'}"
            return statements
        per_minute = int(analysis.manual.section("reminders").get("messages_per_minute", 0)) or None
        monthly.send_statements(
            statements, writer, lambda: Mailer(settings, messages_per_minute=per_minute), analysis.as_of
        )
    return statements


def _preview(
    analysis: Analysis, journal: Journal, outbox: Path, options: ReminderOptions, env: Mapping[str, str]
) -> ReminderRun:
    contents = journal.read()
    unsettled = contents.unconfirmed()
    settled: list[Attempt] = []
    if options.unconfirmed and unsettled:
        contents = resolve_in_memory(contents, options.unconfirmed)  # shown, not recorded: this is a preview
        settled, unsettled = unsettled, []
    schedule, findings = plan_today(analysis, contents, options.under_review)
    thanks = plan_thanks(analysis, contents, _customers(schedule))
    messages, held_back = prepare_messages(
        analysis, schedule, sender_address(analysis.manual, env), options.limit, thanks
    )
    # The previews are written once the sheet is (``write_previews``): a run that refuses leaves none.
    _, window_closed = within_send_window(analysis, Schedule(), options.now())  # shown: --send would wait
    return ReminderRun(
        PREVIEW,
        schedule,
        messages,
        held_back,
        outbox,
        journal.path,
        unconfirmed=unsettled,
        settled=settled,
        settled_as=options.unconfirmed,
        damaged_journal_lines=contents.damaged_lines,
        findings=findings + _unconfirmed_findings(analysis, unsettled),
        window_closed=window_closed,
    )


def _customers(schedule: Schedule) -> set[str]:
    """The customers (folded names) with a reminder due in the schedule."""
    return {normalize_header(d.invoice.customer or "") for d in schedule.due}


def _send(
    analysis: Analysis,
    journal: Journal,
    writer: JournalWriter,
    settings: SmtpSettings,
    outbox: Path,
    options: ReminderOptions,
) -> ReminderRun:
    contents = journal.read()
    settled: list[Attempt] = []
    if options.unconfirmed:
        settled = contents.unconfirmed()
        try:
            for attempt in settled:
                writer.resolve(attempt.id, options.unconfirmed)
        except JournalError as exc:
            raise JournalError(
                f"{exc}; nothing was sent and nothing settled. Free space (or fix the disk) where the journal is, "
                "then run the same command again"
            ) from None
        contents = journal.read()
    schedule, _ = plan_today(analysis, contents, options.under_review)
    thanks = plan_thanks(analysis, contents, _customers(schedule))
    schedule, window_closed = within_send_window(analysis, schedule, options.now())
    if window_closed:  # outside the send window nothing goes, thanks included
        thanks = []
    messages, held_back = prepare_messages(
        analysis, schedule, _from_header(analysis.manual, settings), options.limit, thanks
    )
    write_outbox(messages, outbox)
    run = ReminderRun(
        SEND, schedule, messages, held_back, outbox, journal.path, settled=settled, settled_as=options.unconfirmed
    )
    run.window_closed = window_closed

    per_minute = int(analysis.manual.section("reminders").get("messages_per_minute", 0)) or None
    copies = [] if window_closed else owed_copies(contents, analysis.as_of)  # the window holds copies too
    if messages or copies:
        mailer = Mailer(settings, messages_per_minute=per_minute, pace=options.pace)
        try:
            mailer.connect()
        except (MailConnectionError, MailAuthError) as exc:
            raise type(exc)(f"{exc}. Nothing was sent; the messages are in {outbox}") from None
        with mailer:
            send_all(mailer, writer, run, received_by_address(contents.attempts), analysis.as_of)
            if not run.stopped and not window_closed:
                try:
                    send_copies(mailer, writer, run, owed_copies(journal.read(), analysis.as_of))
                except JournalError as exc:
                    raise journal_full(exc, run, None) from None

    after = journal.read()
    _, findings = plan_today(analysis, after)  # refusals of this run now show in Problems
    run.unconfirmed = after.unconfirmed()
    run.damaged_journal_lines = after.damaged_lines
    run.findings = findings + _unconfirmed_findings(analysis, run.unconfirmed)
    return run


def _from_header(manual: BillingManual, settings: SmtpSettings) -> str:
    """The From header: the configured sender, with the company name when it has no display name."""
    name, address = parseaddr(settings.from_address)
    return formataddr((name or str(manual.section("company").get("name", "")).strip(), address))


def _unconfirmed_findings(analysis: Analysis, attempts: list[Attempt]) -> list[Finding]:
    """A warning in Problems on each invoice of a message whose delivery is unknown."""
    if not attempts:
        return []
    layout = analysis.data.layout
    keys = {item.invoice for attempt in attempts for item in attempt.items}
    rows: dict[str, list[int]] = {}
    for inv in analysis.invoices:
        key = invoice_key(inv)
        if key in keys:
            rows.setdefault(key, []).append(inv.row)
    findings = []
    for attempt in attempts:
        for item in attempt.items:
            for row in rows.get(item.invoice, []):
                findings.append(
                    Finding(
                        "warning",
                        "reminder-unconfirmed",
                        f"the '{item.stage}' reminder of {attempt.on.isoformat()} may not have arrived (the run "
                        "stopped, or the connection was lost, before the server confirmed it); it is not sent again "
                        "until settled with --unconfirmed",
                        layout.sheet,
                        layout.cell("invoice", row),
                        row,
                    )
                )
    return findings


# --------------------------------------------------------------------------------------------
# The sheet's reminder columns


def reminder_column_values(analysis: Analysis, contents: JournalContents) -> dict[int, dict[str, Any]]:
    """``Last Reminder`` and ``Reminder Stage`` for rows whose sheet cells are behind the journal.

    Only reminders sent for certain are written (not unconfirmed ones). A row whose
    cells already name a later stage (typed by hand, say) is left as it is.
    """
    stages = analysis.manual.reminder_stages
    latest: dict[str, tuple[int, date]] = {}
    for attempt in contents.attempts:
        if not attempt.confirmed_sent:
            continue
        for item in attempt.items:
            index = stage_index(stages, item.stage, item.offset_days)
            if index is None:
                continue
            known = latest.get(item.invoice)
            if known is None or (index, attempt.on) > known:
                latest[item.invoice] = (index, attempt.on)
    values: dict[int, dict[str, Any]] = {}
    for inv in analysis.invoices:
        if analysis.results[inv.row].status == INVALID or not inv.number:
            continue
        entry = latest.get(invoice_key(inv))
        if entry is None:
            continue
        index, on = entry
        sheet_stage = inv.outputs.get("reminder_stage")
        sheet_index = stage_index(stages, str(sheet_stage)) if sheet_stage not in (None, "") else None
        sheet_on = as_date(inv.outputs.get("last_reminder"), analysis.data.layout.date1904)
        if sheet_index is not None and (sheet_index, sheet_on or date.min) >= (index, on):
            continue
        values[inv.row] = {"last_reminder": on, "reminder_stage": stages[index].name}
    return values


def sent_reminders(manual: BillingManual, workbook: Path | None) -> list[tuple[str, date]] | None:
    """``(invoice number, date sent)`` for every reminder sent for certain, for the report; None without a journal."""
    path = journal_path(manual, workbook)
    if not path.exists():
        return None
    records = []
    for attempt in Journal(path).read().attempts:
        if attempt.confirmed_sent and attempt.stage not in (THANKS_STAGE.name, "statement"):  # no reminders
            # An installment's key is "NUMBER @ DUE DATE"; the report knows invoices by number.
            records += [(item.invoice.split(" @ ")[0], attempt.on) for item in attempt.items]
    return records


# --------------------------------------------------------------------------------------------
# One customer's message, for ``receivables preview``


@dataclass
class CustomerPreview:
    """The message for one customer, and who else has one due."""

    message: PreparedMessage | None
    others: list[Reminder]
    schedule: Schedule


def preview_customer(
    source: Source,
    manual: BillingManual,
    as_of: date,
    customer: str | None,
    *,
    workbook: Path | None,
    env: Mapping[str, str] = os.environ,
) -> CustomerPreview:
    """Render one customer's message, a reminder or a thank-you (the first when ``customer`` is None); write nothing."""
    try:
        data = source.read(manual)
        analysis = analyse(data, manual, as_of)
    finally:
        source.close()  # nothing is written
    contents = Journal(journal_path(manual, workbook)).read()
    schedule, _ = plan_today(analysis, contents)
    # The messages in the order the run numbers them: reminders, then thank-yous.
    reminders = group_by_customer(schedule.due, manual.reminder_stages)
    reminders += plan_thanks(analysis, contents, _customers(schedule))
    if customer is None:
        chosen = reminders[:1]
    else:
        chosen = _match_customer(customer, reminders, schedule, source.name)
    if not chosen:
        return CustomerPreview(None, [], schedule)
    builder = MessageBuilder(manual, as_of, sender_address(manual, env), charges=analysis.late_charges())
    from toolkit.statements.attach import StatementAttacher

    builder.attachments_for = StatementAttacher(analysis).files_for_reminder
    message = builder.build(chosen[0], reminders.index(chosen[0]) + 1)
    others = [r for r in reminders if r is not chosen[0]]
    return CustomerPreview(message, others, schedule)


def _match_customer(name: str, reminders: list[Reminder], schedule: Schedule, where: str) -> list[Reminder]:
    wanted = normalize_header(name)
    exact = [r for r in reminders if normalize_header(r.customer) == wanted]
    if exact:
        return exact[:1]
    partial = [r for r in reminders if wanted and wanted in normalize_header(r.customer)]
    if len(partial) == 1:
        return partial
    if len(partial) > 1:
        names = ", ".join(sorted({r.customer for r in partial}))
        raise CustomerNotFound(f"{where}: '{name}' matches several customers ({names}); give more of the name")
    skipped = [s for s in schedule.skipped if s.invoice.customer and wanted in normalize_header(s.invoice.customer)]
    if skipped:
        reasons = "; ".join(_skip_line(s) for s in skipped[:5])
        raise CustomerNotFound(f"{where}: no reminder is due today for '{name}': {reasons}")
    due = ", ".join(sorted({r.customer for r in reminders})) or "nobody"
    raise CustomerNotFound(f"{where}: no reminder is due today for '{name}' (reminders are due for: {due})")


def _skip_line(skipped: Skipped) -> str:
    return f"{skipped.invoice.number or f'row {skipped.invoice.row}'} {skipped.detail}"
