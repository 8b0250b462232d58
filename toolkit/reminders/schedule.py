"""Which reminder stage is due for which invoice today, and why the others get none.

The billing manual lists the stages, each ``offset_days`` from the due date
(negative is before it). For one invoice, the stage due today is the latest stage
whose offset has been reached, provided neither it nor a later stage was sent
before: a run after a gap of a week sends the one stage that fits now, not every
stage it missed.

What was sent before comes from two places, and the later of the two counts: the
send journal (``toolkit.reminders.journal``) and the sheet's own ``Reminder Stage`` / ``Last
Reminder`` columns (written by earlier runs, or by hand).

Promises pause the schedule: an invoice whose ``Promised Date`` is today or later
gets nothing. The day after a broken promise (still unpaid, and no reminder since
the promise) the invoice moves one stage up from the last one sent, or to the
stage its age calls for if that is later; the summary flags the broken promise.

Installments: rows that name the original invoice in the ``Installment Of``
column are chased one by one (each has its own due date); the original row, if it
is still in the sheet, is not chased itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from toolkit.findings import Finding
from toolkit.manual import BillingManual, ReminderStage
from toolkit.money import CurrencyFormat
from toolkit.reminders.journal import Attempt
from toolkit.rows.aging import CREDIT, INVALID, ON_HOLD, PAID, RowResult
from toolkit.rows.invoices import Invoice
from toolkit.rows.layout import SheetLayout
from toolkit.rows.packed import InvoiceBook, ResultBook
from toolkit.rows.values import ascii_email, is_date_serial, serial_to_datetime
from toolkit.text import column_letter, normalize_header

# Why an invoice gets no reminder today although it is unpaid.
SKIP_ON_HOLD = "on_hold"
SKIP_INVALID = "invalid"
SKIP_NO_EMAIL = "no_email"
SKIP_PROMISED = "promised"
SKIP_REFUSED = "refused"
SKIP_INSTALLMENTS = "installments"
SKIP_CREDITED = "credited"
SKIP_UNDER_REVIEW = "payment_under_review"


def invoice_key(invoice: Invoice) -> str:
    """The name the journal knows an invoice by.

    The invoice number; for an installment, the number and its due date, because
    installments may repeat the original number on every row.
    """
    number = (invoice.number or "").strip()
    if invoice.installment_of and invoice.due_date is not None:
        return f"{number} @ {invoice.due_date.isoformat()}"
    return number


@dataclass(frozen=True)
class Installment:
    """Which installment of a renegotiated invoice a row is: ``index`` of ``count``."""

    of: str
    index: int
    count: int


@dataclass(frozen=True)
class DueReminder:
    """One invoice that gets a reminder today, at ``stage``."""

    invoice: Invoice
    key: str
    stage: ReminderStage
    stage_index: int
    days_past_due: int  # negative: days still to go before the due date
    balance: Decimal
    email: str  # the customer's address, in the form every mail server takes
    installment: Installment | None = None
    broken_promise: date | None = None  # the promised date, when this reminder follows a broken promise

    @property
    def days_overdue(self) -> int:
        return max(self.days_past_due, 0)


@dataclass(frozen=True)
class Skipped:
    """An unpaid invoice that gets no reminder although one would be due, and why."""

    invoice: Invoice
    reason: str  # one of the SKIP_* codes
    detail: str  # plain words, for the summary


@dataclass(frozen=True)
class SentBefore:
    """The latest reminder an invoice is known to have had."""

    stage_index: int
    on: date | None  # None when the sheet names a stage but no date
    from_sheet: bool
    confirmed: bool  # False: an unconfirmed journal attempt (it may not have arrived)


@dataclass
class History:
    """What the journal and the sheet say was sent for one invoice."""

    last: SentBefore | None = None  # the highest stage sent
    last_on: date | None = None  # the most recent date a reminder went
    refused: dict[str, str] = field(default_factory=dict)  # address (folded) -> the server's reply

    def note(self, sent: SentBefore) -> None:
        if self.last is None or sent.stage_index > self.last.stage_index:
            self.last = sent
        if sent.on is not None and (self.last_on is None or sent.on > self.last_on):
            self.last_on = sent.on


@dataclass
class Schedule:
    """The plan for today: reminders due, invoices skipped (with reasons), findings for the sheet."""

    due: list[DueReminder] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    paid: int = 0  # paid invoices: never chased, only counted

    @property
    def broken_promises(self) -> list[DueReminder]:
        return [d for d in self.due if d.broken_promise is not None]


def stage_index(stages: list[ReminderStage], name: str, offset_days: int | None = None) -> int | None:
    """Where a stage named ``name`` stands in the schedule; by its offset when the name is unknown."""
    folded = normalize_header(name)
    for index, stage in enumerate(stages):
        if normalize_header(stage.name) == folded:
            return index
    if offset_days is not None:
        reached = [i for i, s in enumerate(stages) if s.offset_days <= offset_days]
        return reached[-1] if reached else None
    return None


def build_history(
    invoices: Iterable[Invoice],
    attempts: Iterable[Attempt],
    manual: BillingManual,
    layout: SheetLayout,
) -> tuple[dict[str, History], list[Finding]]:
    """Per invoice key: what the journal and the sheet's reminder columns say was sent.

    Returns the histories and findings for sheet cells naming a stage the manual does not have.
    """
    stages = manual.reminder_stages
    histories: dict[str, History] = defaultdict(History)
    for attempt in attempts:
        if attempt.counts_as_sent:
            for item in attempt.items:
                index = stage_index(stages, item.stage, item.offset_days)
                if index is not None:
                    histories[item.invoice].note(SentBefore(index, attempt.on, False, attempt.confirmed_sent))
        if attempt.permanent:
            for address in attempt.refused:
                for item in attempt.items:
                    histories[item.invoice].refused[address.casefold()] = attempt.reason
    findings: list[Finding] = []
    stage_col = layout.output_columns.get("reminder_stage")
    for invoice in invoices:
        stage_text = invoice.outputs.get("reminder_stage")
        if stage_text in (None, "") or not invoice.number:
            continue
        index = stage_index(stages, str(stage_text))
        if index is None:
            names = ", ".join(s.name for s in stages)
            findings.append(
                Finding(
                    "warning",
                    "unknown-reminder-stage",
                    f"reminder stage '{stage_text}' is not a stage of the billing manual ({names}); "
                    "it is ignored when deciding the next reminder",
                    layout.sheet,
                    f"{column_letter(stage_col)}{invoice.row}" if stage_col else None,
                    invoice.row,
                )
            )
            continue
        on = as_date(invoice.outputs.get("last_reminder"), layout.date1904)
        histories[invoice_key(invoice)].note(SentBefore(index, on, True, True))
    return dict(histories), findings


def as_date(value: object, date1904: bool = False) -> date | None:
    """A date from a cell read back: a date cell, a date serial (Google Sheets), or text YYYY-MM-DD; else None.

    A serial counts from the workbook's epoch (``date1904``: the 1904 date system).
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if is_date_serial(value, date1904):
        return serial_to_datetime(int(value), date1904).date()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def installments(invoices: Iterable[Invoice]) -> dict[int, Installment]:
    """Row -> which installment it is, for rows naming an original invoice."""
    groups: dict[str, list[Invoice]] = defaultdict(list)
    for inv in invoices:
        if inv.installment_of:
            groups[normalize_header(inv.installment_of)].append(inv)
    found: dict[int, Installment] = {}
    for group in groups.values():
        group.sort(key=lambda inv: (inv.due_date or date.max, inv.row))
        for index, inv in enumerate(group, start=1):
            found[inv.row] = Installment(str(inv.installment_of), index, len(group))
    return found


@dataclass
class _Planner:
    """What every invoice's plan needs: the stages, the history, and the schedule being filled."""

    manual: BillingManual
    as_of: date
    history: Mapping[str, History]
    layout: SheetLayout
    invoices: InvoiceBook
    results: Mapping[int, RowResult]
    schedule: Schedule = field(default_factory=Schedule)

    def __post_init__(self) -> None:
        self.stages = self.manual.reminder_stages
        self.shown = self.manual.settings["workbook"]["date_format"]
        # Installments and credit notes are never packed (``toolkit.rows.packed``).
        self.parts = installments(self.invoices.unpacked())
        self.renegotiated = _renegotiated(self.invoices.unpacked())
        self.first_overdue = next((i for i, s in enumerate(self.stages) if s.offset_days > 0), len(self.stages) - 1)
        self.credited = credits_covering_debts(self.invoices.unsettled(), self.results, self.manual)

    def skip(self, inv: Invoice, reason: str, detail: str) -> None:
        self.schedule.skipped.append(Skipped(inv, reason, detail))

    def finding(self, code: str, message: str, inv: Invoice, field_name: str) -> None:
        cell = self.layout.cell(field_name, inv.row) if field_name in self.layout.columns else None
        self.schedule.findings.append(Finding("warning", code, message, self.layout.sheet, cell, inv.row))


def plan_reminders(
    invoices: InvoiceBook,
    results: Mapping[int, RowResult],
    manual: BillingManual,
    as_of: date,
    history: Mapping[str, History],
    layout: SheetLayout,
) -> Schedule:
    """Decide, invoice by invoice, the reminder stage due today (if any)."""
    if not manual.reminder_stages:
        return Schedule()
    plan = _Planner(manual, as_of, history, layout, invoices, results)
    for inv in invoices:
        result = results.get(inv.row)
        if result is not None and not _settled_before_stages(plan, inv, result):
            _plan_invoice(plan, inv, result)
    return plan.schedule


def _settled_before_stages(plan: _Planner, inv: Invoice, result: RowResult) -> bool:
    """Credit notes, paid, invalid and renegotiated invoices: counted or skipped, never chased."""
    if result.status == CREDIT:
        return True  # a credit note is what the company owes: never chased
    if result.status == PAID:
        plan.schedule.paid += 1
        return True
    if result.status == INVALID:
        plan.skip(inv, SKIP_INVALID, "the row has errors (see Problems); fix them first")
        return True
    if (
        plan.renegotiated
        and not inv.installment_of
        and (number := normalize_header(inv.number or "")) in plan.renegotiated
    ):
        rows = ", ".join(map(str, plan.renegotiated[number]))
        plan.skip(inv, SKIP_INSTALLMENTS, f"renegotiated into installments (rows {rows}); those are chased instead")
        return True
    return False


def _plan_invoice(plan: _Planner, inv: Invoice, result: RowResult) -> None:
    """The stage due today for one valid, unpaid invoice, or why it gets none."""
    assert inv.due_date is not None and result.balance is not None  # valid, unpaid rows have both
    key = invoice_key(inv)
    refusal = _refusal(inv, plan.history.get(key))
    if refusal is not None:
        plan.finding(
            "reminder-refused",
            f"the mail server refused {refusal[0]} ({refusal[1]}); no reminder goes to it until the email is corrected",
            inv,
            "email",
        )
    days = (plan.as_of - inv.due_date).days
    target, broken = _target_stage(plan, inv, result, key, days)
    if target is None:
        return
    sendable = _sendable_address(plan, inv, result, refusal)
    if sendable is None:
        return
    plan.schedule.due.append(
        DueReminder(
            invoice=inv,
            key=key,
            stage=plan.stages[target],
            stage_index=target,
            days_past_due=days,
            balance=result.balance,
            email=sendable,
            installment=plan.parts.get(inv.row),
            broken_promise=broken,
        )
    )


def _target_stage(
    plan: _Planner, inv: Invoice, result: RowResult, key: str, days: int
) -> tuple[int | None, date | None]:
    """The stage to send today (None: nothing new is due), and the promise broken, if the stage follows one."""
    stages = plan.stages
    reached = max((i for i, s in enumerate(stages) if s.offset_days <= days), default=None)
    past = plan.history.get(key)
    last_index = past.last.stage_index if past is not None and past.last is not None else -1
    promised = inv.promised_date
    if promised is not None and promised >= plan.as_of:
        if reached is not None and reached > last_index:
            plan.skip(
                inv, SKIP_PROMISED, f"promised to pay by {_shown(promised, plan.shown)}; reminders paused until then"
            )
        return None, None
    target, broken = reached, None
    if promised is not None and days > 0 and result.status != ON_HOLD:
        broken = promised
        plan.finding(
            "broken-promise",
            f"the customer promised to pay by {_shown(promised, plan.shown)} and has not; "
            "agree a new date (and write it here) or let the reminders go on",
            inv,
            "promised_date",
        )
        reminded_since = (
            past is not None and past.last is not None and (past.last_on is None or past.last_on > promised)
        )
        if not reminded_since:
            steps = (reached, last_index + 1, plan.first_overdue)
            target = min(max(x for x in steps if x is not None), len(stages) - 1)
        else:
            broken = None  # the follow-up went out already: back to the normal schedule
    if target is None or target <= last_index:
        return None, None
    return target, broken


def _sendable_address(plan: _Planner, inv: Invoice, result: RowResult, refusal: tuple[str, str] | None) -> str | None:
    """The address a due reminder goes to; None, with the reason skipped, when it cannot go."""
    covered = plan.credited.get(normalize_header(inv.customer or ""))
    if covered is not None:
        plan.skip(inv, SKIP_CREDITED, covered)
        return None
    if result.status == ON_HOLD:
        held = f" ('{inv.hold_text}')" if inv.hold_text else ""
        plan.skip(inv, SKIP_ON_HOLD, f"on hold{held}")
        return None
    sendable = ascii_email(inv.email) if inv.email_ok and inv.email else None
    if sendable is None:
        if not inv.email:
            detail = "no email"
        elif inv.email_ok:  # valid, but with accents before the @
            detail = (
                f"the address '{inv.email}' has accented letters before the @, which most mail servers "
                "do not accept; ask the customer for a plain one"
            )
        else:
            detail = f"no valid email ('{_one_line(inv.email)}')"
        plan.skip(inv, SKIP_NO_EMAIL, detail)
        return None
    if refusal is not None:
        plan.skip(inv, SKIP_REFUSED, f"the mail server refused {refusal[0]} ({refusal[1]}); correct the email")
        return None
    return sendable


def credits_covering_debts(
    invoices: Iterable[Invoice], results: Mapping[int, RowResult], manual: BillingManual
) -> dict[str, str]:
    """Folded customer -> why they get no reminder: their open credit notes cover all they owe."""
    # A credit note is never packed (``toolkit.rows.packed``): the results kept as objects hold them all.
    kept = results.own if isinstance(results, ResultBook) else results
    if not any(result.status == CREDIT for result in kept.values()):
        return {}  # no credit note: nothing to add up
    owed: dict[str, Decimal] = defaultdict(Decimal)
    credit: dict[str, Decimal] = defaultdict(Decimal)
    for inv in invoices:
        result = results.get(inv.row)
        if result is None or result.balance is None or inv.customer is None:
            continue
        key = normalize_header(inv.customer)
        if result.status == CREDIT:
            credit[key] += result.balance
        elif result.status not in (PAID, INVALID) and result.balance > 0:
            owed[key] += result.balance
    money = CurrencyFormat(manual.locale, manual.currency).format
    return {
        key: f"credit notes of {money(-credit[key])} cover the {money(owed[key])} owed"
        for key in credit
        if credit[key] < 0 and owed[key] + credit[key] <= 0
    }


def _refusal(inv: Invoice, past: History | None) -> tuple[str, str] | None:
    """The invoice's address and the server's reply, when the server refused that address for good."""
    if past is None or not inv.email:
        return None
    address = ascii_email(inv.email) or inv.email.strip()
    reply = past.refused.get(address.casefold())
    return None if reply is None else (address, reply)


def _renegotiated(invoices: list[Invoice]) -> dict[str, list[int]]:
    """Folded original invoice number -> the rows of its installments."""
    rows: dict[str, list[int]] = defaultdict(list)
    for inv in invoices:
        if inv.installment_of:
            rows[normalize_header(inv.installment_of)].append(inv.row)
    return dict(rows)


def _shown(day: date, fmt: str) -> str:
    """A date the way the workbook writes them (the manual's date_format)."""
    from toolkit.manual import to_strptime

    return day.strftime(to_strptime(fmt))


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")
