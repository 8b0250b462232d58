"""Statements of account sent every month with the daily run: preview first, through the send journal, never twice.

With ``[statements] monthly = true``, the first ``receivables run`` on or after
``day_of_month`` prepares one email per customer with a balance and a valid address: a short
note with the total due, the statement as the HTML part, and the statement attached as PDF
and CSV. A preview writes them to the day's outbox folder as ``statement-NNN-name.eml``
(the reminders' own ``.eml`` files are left alone); ``--send`` sends them, each written to
the send journal (stage ``statement``, item ``statement:YYYY-MM``) before the next goes.
A customer whose statement of the month is in the journal (sent, or unconfirmed) gets none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from babel.dates import format_date

from toolkit.errors import MailConnectionError, MailError, RecipientRefused, SenderRefused, ToolkitError
from toolkit.pipeline import Analysis
from toolkit.reminders.compose import display_name, replace_previews
from toolkit.reminders.eml import AlternativeEmail, new_boundary
from toolkit.reminders.journal import JournalContents, JournalItem, JournalWriter
from toolkit.reminders.smtp import Mailer
from toolkit.report.figures import customer_key
from toolkit.statements.attach import statement_files
from toolkit.statements.build import Statement
from toolkit.statements.files import file_slug, statements_with_balance
from toolkit.statements.render import StatementStyle, render_html

STATEMENT_STAGE = "statement"
STATEMENT_EML = re.compile(r"^statement-\d{3,}-[a-z0-9-]+\.eml$")

_NOTE = {
    "en": (
        "Dear {customer},\n\nPlease find attached your statement of account as of {date} (PDF and CSV).\n\n"
        "Total due: {total}\n\nIf you disagree with an item, please contact {contact}.\n\nKind regards,\n{company}\n"
    ),
    "pt_BR": (
        "Prezados {customer},\n\nSegue em anexo o extrato de conta em {date} (PDF e CSV).\n\n"
        "Total devido: {total}\n\nSe discordar de algum item, entre em contato com {contact}.\n\n"
        "Atenciosamente,\n{company}\n"
    ),
}


@dataclass
class StatementMessage:
    """One customer's monthly statement email."""

    statement: Statement
    content: AlternativeEmail
    file_name: str
    outcome: str = ""  # "sent", "refused", "not sent" after a send
    detail: str = ""


@dataclass
class StatementRun:
    """What the monthly statements part of a run prepared or sent."""

    mode: str  # "preview" or "send"
    month: str  # YYYY-MM
    messages: list[StatementMessage] = field(default_factory=list)
    already_sent: int = 0  # customers whose statement of the month is in the journal
    no_address: list[str] = field(default_factory=list)  # customers with a balance but no valid email
    stopped: str | None = None

    @property
    def sent(self) -> list[StatementMessage]:
        return [m for m in self.messages if m.outcome == "sent"]


def month_key(day: date) -> str:
    return f"{STATEMENT_STAGE}:{day.strftime('%Y-%m')}"


def statements_enabled(analysis: Analysis) -> bool:
    """Whether the run sends statements today: monthly is on and the day of the month has come."""
    settings = analysis.manual.section("statements")
    return bool(settings.get("monthly")) and analysis.as_of.day >= int(settings.get("day_of_month", 1))


def already_sent(contents: JournalContents, as_of: date) -> set[str]:
    """Customer keys whose statement of this month the journal holds (sent, or perhaps sent)."""
    key = month_key(as_of)
    return {
        customer_key(a.customer)
        for a in contents.attempts
        if a.stage == STATEMENT_STAGE and a.counts_as_sent and any(i.invoice == key for i in a.items)
    }


def plan_statements(analysis: Analysis, contents: JournalContents, sender: str, mode: str) -> StatementRun:
    """The statement messages due this run: customers with a balance, an address, and none sent this month."""
    run = StatementRun(mode, analysis.as_of.strftime("%Y-%m"))
    done = already_sent(contents, analysis.as_of)
    style = StatementStyle.of(analysis.manual)
    boundary = new_boundary()
    for statement in statements_with_balance(analysis):
        if customer_key(statement.customer) in done:
            run.already_sent += 1
            continue
        if not statement.email:
            run.no_address.append(statement.customer)
            continue
        number = len(run.messages) + 1
        content = _message(analysis, statement, style, sender, boundary)
        name = f"statement-{number:03d}-{file_slug(statement.customer, 50)}.eml"
        run.messages.append(StatementMessage(statement, content, name))
    return run


def _message(
    analysis: Analysis, statement: Statement, style: StatementStyle, sender: str, boundary: str
) -> AlternativeEmail:
    manual = analysis.manual
    company = manual.section("company")
    settings = manual.section("statements")
    month = format_date(analysis.as_of, "MMMM yyyy", locale=manual.locale)
    subject = str(settings.get("subject", "")).replace("{company}", str(company.get("name", "")))
    subject = " ".join(subject.replace("{month}", month).split())
    note = _NOTE["pt_BR" if style.language.lower().startswith("pt") else "en"].format(
        customer=display_name(statement.customer),
        date=style.date(statement.as_of),
        total=style.money(statement.total_due),
        contact=str(company.get("dispute_contact", "")) or str(company.get("email", "")),
        company=str(company.get("name", "")),
    )
    email = str(company.get("email", "")).strip()
    reply_to = email if email and email.casefold() != parseaddr(sender)[1].casefold() else ""
    return AlternativeEmail(
        sender=sender,
        to_name=display_name(statement.customer),
        to_address=statement.email or "",
        cc=(),
        bcc=(),
        reply_to=reply_to,
        subject=subject,
        date=format_datetime(datetime.now().astimezone()),
        message_id=make_msgid("statement", domain=parseaddr(sender)[1].rpartition("@")[2] or "localhost"),
        language=style.language.replace("_", "-"),
        text=note,
        html=render_html(statement, style),
        boundary=boundary,
        attachments=tuple(statement_files(statement, style)),
    )


def write_previews(run: StatementRun, folder: Path) -> None:
    """Write each statement message as ``statement-NNN-name.eml`` into the day's outbox folder."""
    try:
        replace_previews(folder, STATEMENT_EML, [(m.file_name, m.content.to_bytes) for m in run.messages])
    except OSError as exc:
        raise ToolkitError(f"{folder}: cannot write the statement previews ({exc.strerror or exc})") from None


def send_statements(run: StatementRun, writer: JournalWriter, mailer_for: Callable[[], Mailer], on: date) -> None:
    """Send each message between its two journal records; stop at a lost connection."""
    if not run.messages:
        return
    try:
        mailer = mailer_for()
        mailer.connect()
    except MailError as exc:
        run.stopped = f"{exc}. No statement was sent"
        for message in run.messages:
            message.outcome, message.detail = "not sent", "not tried"
        return
    with mailer:
        for position, message in enumerate(run.messages):
            content = message.content
            attempt = writer.sending(
                on=on,
                customer=message.statement.customer,
                to=content.to_address,
                cc=[],
                bcc=[],
                subject=content.subject,
                message_id=content.message_id,
                stage=STATEMENT_STAGE,
                items=[JournalItem(month_key(on), STATEMENT_STAGE, 0)],
            )
            try:
                mailer.send(content.to_message(), [content.to_address])
            except RecipientRefused as exc:
                reply = "; ".join(f"{a} {c or ''} {t}".strip() for a, (c, t) in exc.refused.items())
                writer.failed(attempt, reason=reply, permanent=True, refused=list(exc.refused))
                message.outcome, message.detail = "refused", reply
                continue
            except (MailConnectionError, SenderRefused) as exc:
                writer.failed(attempt, reason=str(exc), permanent=False)
                message.outcome, message.detail = "not sent", str(exc)
                run.stopped = str(exc)
                for rest in run.messages[position + 1 :]:
                    rest.outcome, rest.detail = "not sent", "not tried"
                return
            writer.sent(attempt)
            message.outcome = "sent"


def summary_lines(run: StatementRun, folder: Path) -> list[str]:
    """What the run's summary says about the month's statements."""
    lines = []
    if run.mode == "preview":
        if run.messages:
            lines.append(
                f"{len(run.messages)} statement(s) of account for {run.month} ready in {folder} "
                "(statement-*.eml); they go with the reminders when you run with --send."
            )
    else:
        if run.sent:
            lines.append(f"{len(run.sent)} statement(s) of account for {run.month} sent and recorded in the journal.")
        for message in run.messages:
            if message.outcome and message.outcome != "sent":
                lines.append(f"Statement for {message.statement.customer} {message.outcome}: {message.detail}")
        if run.stopped:
            lines.append(f"Statements stopped: {run.stopped}")
    if run.already_sent:
        lines.append(f"{run.already_sent} customer(s) already have their statement for {run.month}.")
    if run.no_address:
        names = ", ".join(run.no_address[:5]) + (" ..." if len(run.no_address) > 5 else "")
        lines.append(f"No statement for {names}: no valid email address in the workbook.")
    return lines
