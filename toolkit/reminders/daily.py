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
from datetime import date
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError
from toolkit.findings import Finding, sort_key
from toolkit.manual import BillingManual
from toolkit.pipeline import (
    COMPUTED_KEYS,
    Analysis,
    Source,
    WriteReport,
    analyse,
    fewer_collections,
    plan_columns,
)
from toolkit.reminders.compose import (
    MessageBuilder,
    PreparedMessage,
    Reminder,
    group_by_customer,
    move_to_sent,
    outbox_folder,
    sender_address,
    write_outbox,
)
from toolkit.reminders.journal import (
    JOURNAL_FILENAME,
    Attempt,
    Journal,
    JournalContents,
    JournalItem,
    JournalWriter,
    resolve_in_memory,
)
from toolkit.reminders.schedule import (
    Schedule,
    Skipped,
    as_date,
    build_history,
    invoice_key,
    plan_reminders,
    stage_index,
)
from toolkit.reminders.smtp import (
    MailAuthError,
    MailConnectionError,
    Mailer,
    RecipientRefused,
    SenderRefused,
    SmtpSettings,
    smtp_settings,
)
from toolkit.rows.aging import INVALID
from toolkit.text import normalize_header

REMINDER_KEYS = ("last_reminder", "reminder_stage")
PREVIEW, SEND = "preview", "send"

# Outcomes of one message in a send run.
DELIVERED, PARTIAL, REFUSED, NOT_SENT = "sent", "partial", "refused", "not sent"


class SendInterrupted(ToolkitError):
    """The owner pressed Ctrl-C while reminders were being sent."""


@dataclass
class ReminderOptions:
    """How ``receivables run`` handles reminders."""

    send: bool = False
    outbox: Path | None = None  # the outbox root; the day's folder goes inside
    limit: int | None = None  # at most this many messages
    unconfirmed: str | None = None  # settle unconfirmed messages: "sent" or "resend"
    pace: Callable[[str, float], None] | None = None  # the rate limit shared by a batch's workers


@dataclass
class Delivery:
    """What happened to one message in a send run."""

    prepared: PreparedMessage
    outcome: str  # DELIVERED, PARTIAL (the customer got it, a cc was refused), REFUSED, NOT_SENT
    detail: str = ""


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

    @property
    def invoice_count(self) -> int:
        """Invoices reminded in this run's messages (a message may cover several)."""
        return sum(len(m.reminder.items) for m in self.messages)

    @property
    def customer_count(self) -> int:
        return len({normalize_header(m.reminder.customer) for m in self.messages})

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


# --------------------------------------------------------------------------------------------
# Where things go


def _relative_to_manual(manual: BillingManual, value: str, fallback: Path) -> Path:
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    base = manual.path.parent if manual.path is not None else fallback
    return base / path


def journal_path(manual: BillingManual, workbook: Path | None) -> Path:
    """``[reminders] journal``, else ``receivables-journal.jsonl`` next to the workbook."""
    folder = workbook.parent if workbook is not None else (manual.path.parent if manual.path else Path.cwd())
    configured = str(manual.section("reminders").get("journal", "")).strip()
    if configured:
        return _relative_to_manual(manual, configured, folder)
    return folder / JOURNAL_FILENAME


def outbox_root(manual: BillingManual, workbook: Path | None, given: Path | None = None) -> Path:
    """``--outbox``, else ``[reminders] outbox``, else a folder ``outbox`` next to the workbook."""
    if given is not None:
        return given
    folder = workbook.parent if workbook is not None else (manual.path.parent if manual.path else Path.cwd())
    configured = str(manual.section("reminders").get("outbox", "")).strip()
    if configured:
        return _relative_to_manual(manual, configured, folder)
    return folder / "outbox"


def reminders_enabled(manual: BillingManual) -> bool:
    return bool(manual.section("reminders").get("enabled", True)) and bool(manual.reminder_stages)


# --------------------------------------------------------------------------------------------
# Planning


def plan_today(analysis: Analysis, contents: JournalContents) -> tuple[Schedule, list[Finding]]:
    """Today's schedule from the analysis and the journal; plus findings about the sheet's reminder columns."""
    invoices = analysis.invoices
    history, findings = build_history(invoices, contents.attempts, analysis.manual, analysis.data.layout)
    schedule = plan_reminders(
        invoices, analysis.results, analysis.manual, analysis.as_of, history, analysis.data.layout
    )
    return schedule, findings + schedule.findings


def prepare_messages(
    analysis: Analysis, schedule: Schedule, sender: str, limit: int | None = None
) -> tuple[list[PreparedMessage], int]:
    """Render every message due (at most ``limit``); returns them and how many were held back."""
    manual = analysis.manual
    reminders = group_by_customer(schedule.due, manual.reminder_stages)
    builder = MessageBuilder(manual, analysis.as_of, sender)  # checks every template first
    chosen = reminders if limit is None else reminders[:limit]
    return [builder.build(r, n) for n, r in enumerate(chosen, start=1)], len(reminders) - len(chosen)


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
    data = source.read(manual, progress)
    # Before a reminder is sent, the sheet read must have passed its checks. A run that only
    # previews them leaves that to the write: the check of the sheet it writes covers the sheet read.
    analysis = analyse(data, manual, as_of, confirm=options.send)
    if not reminders_enabled(manual):
        report = source.write(data, plan_columns(data.layout, manual), analysis.computed_values())
        return DailyResult(analysis, report, None)

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
        with journal.writer() as writer:  # held until the end: one sending run at a time
            run = _send(analysis, journal, writer, settings, outbox, options)
    else:
        run = _preview(analysis, journal, outbox, options, env)

    analysis.findings = sorted([*analysis.findings, *run.findings], key=sort_key)
    values = analysis.computed_values()
    columns_written = reminder_column_values(analysis, journal.read())
    keys: tuple[str, ...] = COMPUTED_KEYS
    if columns_written or any(k in data.layout.output_columns for k in REMINDER_KEYS):
        keys = (*COMPUTED_KEYS, *REMINDER_KEYS)
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
    return DailyResult(analysis, report, run)


def _preview(
    analysis: Analysis, journal: Journal, outbox: Path, options: ReminderOptions, env: Mapping[str, str]
) -> ReminderRun:
    contents = journal.read()
    unsettled = contents.unconfirmed()
    settled: list[Attempt] = []
    if options.unconfirmed and unsettled:
        contents = resolve_in_memory(contents, options.unconfirmed)  # shown, not recorded: this is a preview
        settled, unsettled = unsettled, []
    schedule, findings = plan_today(analysis, contents)
    messages, held_back = prepare_messages(analysis, schedule, sender_address(analysis.manual, env), options.limit)
    write_outbox(messages, outbox)
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
    )


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
        for attempt in settled:
            writer.resolve(attempt.id, options.unconfirmed)
        contents = journal.read()
    schedule, _ = plan_today(analysis, contents)
    messages, held_back = prepare_messages(analysis, schedule, _from_header(analysis.manual, settings), options.limit)
    write_outbox(messages, outbox)
    run = ReminderRun(
        SEND, schedule, messages, held_back, outbox, journal.path, settled=settled, settled_as=options.unconfirmed
    )

    per_minute = int(analysis.manual.section("reminders").get("messages_per_minute", 0)) or None
    if messages:
        mailer = Mailer(settings, messages_per_minute=per_minute, pace=options.pace)
        try:
            mailer.connect()
        except (MailConnectionError, MailAuthError) as exc:
            raise type(exc)(f"{exc}. Nothing was sent; the messages are in {outbox}") from None
        with mailer:
            for position, prepared in enumerate(messages):
                try:
                    delivery = _send_one(mailer, writer, prepared, analysis.as_of, outbox)
                except (MailConnectionError, SenderRefused) as exc:
                    run.deliveries.append(Delivery(prepared, NOT_SENT, str(exc)))
                    run.stopped = str(exc)
                    run.deliveries += [Delivery(p, NOT_SENT, "not tried") for p in messages[position + 1 :]]
                    break
                except KeyboardInterrupt:
                    sent = len([d for d in run.deliveries if d.outcome in (DELIVERED, PARTIAL)])
                    raise SendInterrupted(
                        f"Interrupted while sending: {sent} of {len(messages)} reminder message(s) were sent and "
                        f"are recorded in {journal.path}. The workbook was not updated; run the same command "
                        "again to send the rest (nothing is sent twice)"
                    ) from None
                run.deliveries.append(delivery)

    after = journal.read()
    _, findings = plan_today(analysis, after)  # refusals of this run now show in Problems
    run.unconfirmed = after.unconfirmed()
    run.damaged_journal_lines = after.damaged_lines
    run.findings = findings + _unconfirmed_findings(analysis, run.unconfirmed)
    return run


def _send_one(mailer: Mailer, writer: JournalWriter, prepared: PreparedMessage, as_of: date, outbox: Path) -> Delivery:
    """Send one message between its two journal records. Raises on a lost connection (after recording it)."""
    reminder = prepared.reminder
    attempt = writer.sending(
        on=as_of,
        customer=reminder.customer,
        to=reminder.email,
        cc=prepared.cc,
        bcc=prepared.bcc,
        subject=prepared.subject,
        message_id=prepared.message_id,
        stage=reminder.stage.name,
        items=[JournalItem(item.key, item.stage.name, item.stage.offset_days) for item in reminder.items],
    )
    try:
        mailer.send(prepared.message, prepared.recipients)
    except RecipientRefused as exc:
        customer = reminder.email.casefold()
        refused = {address.casefold(): reply for address, reply in exc.refused.items()}
        if customer not in refused:
            # The customer got it; a cc or bcc address did not.
            note = "; ".join(_reply_text(a, r) for a, r in exc.refused.items())
            writer.sent(attempt, eml=_moved(prepared, outbox), note=f"refused: {note}", refused=list(exc.refused))
            return Delivery(prepared, PARTIAL, f"a copy was refused: {note}")
        code, text = refused[customer]
        permanent = code is None or code >= 500
        reply = f"{code} {text}" if code is not None else text
        writer.failed(
            attempt,
            reason=reply,
            permanent=permanent,
            refused=[a for a, (c, _) in exc.refused.items() if c is None or c >= 500],
        )
        again = "correct the email in the workbook" if permanent else "the next run tries again"
        return Delivery(prepared, REFUSED, f"{reminder.email}: {reply} ({again})")
    except (MailConnectionError, SenderRefused) as exc:
        writer.failed(attempt, reason=str(exc), permanent=False)
        raise
    writer.sent(attempt, eml=_moved(prepared, outbox))
    return Delivery(prepared, DELIVERED)


def _moved(prepared: PreparedMessage, outbox: Path) -> str | None:
    moved = move_to_sent(prepared, outbox)
    return str(moved) if moved is not None else None


def _reply_text(address: str, reply: tuple[int | None, str]) -> str:
    code, text = reply
    return f"{address} ({code} {text})" if code is not None else f"{address} ({text})"


def _from_header(manual: BillingManual, settings: SmtpSettings) -> str:
    """The From header: the configured sender, with the company name when it has no display name."""
    name, address = parseaddr(settings.from_address)
    return formataddr((name or str(manual.section("company").get("name", "")).strip(), address))


def _unconfirmed_findings(analysis: Analysis, attempts: list[Attempt]) -> list[Finding]:
    """A warning in Problems on each invoice of a message whose delivery is unknown."""
    if not attempts:
        return []
    layout = analysis.data.layout
    rows: dict[str, list[int]] = {}
    for inv in analysis.invoices:
        rows.setdefault(invoice_key(inv), []).append(inv.row)
    findings = []
    for attempt in attempts:
        for item in attempt.items:
            for row in rows.get(item.invoice, []):
                findings.append(
                    Finding(
                        "warning",
                        "reminder-unconfirmed",
                        f"the '{item.stage}' reminder of {attempt.on.isoformat()} may not have arrived (the run "
                        "stopped while sending it); it is not sent again until settled with --unconfirmed",
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
        sheet_on = as_date(inv.outputs.get("last_reminder"))
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
        if attempt.confirmed_sent:
            # An installment's key is "NUMBER @ DUE DATE"; the report knows invoices by number.
            records += [(item.invoice.split(" @ ")[0], attempt.on) for item in attempt.items]
    return records


# --------------------------------------------------------------------------------------------
# One customer's message, for ``receivables preview``


class CustomerNotFound(ToolkitError):
    """``--customer`` names nobody with a reminder due."""


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
    """Render one customer's reminder (the first due when ``customer`` is None); write nothing."""
    try:
        data = source.read(manual)
        analysis = analyse(data, manual, as_of)
    finally:
        source.close()  # nothing is written
    contents = Journal(journal_path(manual, workbook)).read()
    schedule, _ = plan_today(analysis, contents)
    reminders = group_by_customer(schedule.due, manual.reminder_stages)
    if customer is None:
        chosen = reminders[:1]
    else:
        chosen = _match_customer(customer, reminders, schedule, source.name)
    if not chosen:
        return CustomerPreview(None, [], schedule)
    builder = MessageBuilder(manual, as_of, sender_address(manual, env))
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
