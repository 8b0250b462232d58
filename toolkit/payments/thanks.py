"""Thanks to payers: a customer who was reminded and has paid gets one short thank-you.

A customer qualifies when the send journal shows reminders sent to them, every
invoice those reminders covered is now paid, none of their invoices is overdue,
and no reminder is due to them today. The thank-you covers the invoices paid that
no earlier thank-you covered, so it is never sent twice for the same payment; it
is written to the journal like a reminder (stage ``thanks``, with an offset below
every reminder stage, so the schedule never takes it for one).

``[reminders] thank_payers = false`` turns it off.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from toolkit.manual import ReminderStage
from toolkit.pipeline import Analysis
from toolkit.reminders.compose import Reminder
from toolkit.reminders.journal import JournalContents
from toolkit.reminders.schedule import DueReminder, invoice_key
from toolkit.rows.aging import OVERDUE, PAID
from toolkit.rows.invoices import Invoice
from toolkit.text import normalize_header

THANKS_STAGE = ReminderStage(name="thanks", offset_days=-1_000_000, template="thanks")
# A payment recorded longer ago than this is not thanked for (a journal older than the feature, say).
THANKS_WITHIN = timedelta(days=30)


def thanks_enabled(analysis: Analysis) -> bool:
    return bool(analysis.manual.section("reminders").get("thank_payers", True))


def plan_thanks(analysis: Analysis, contents: JournalContents, reminded_today: set[str]) -> list[Reminder]:
    """One thank-you per customer who qualifies (see the module), most recent payers first.

    ``reminded_today`` holds the folded names of the customers who get a reminder this run.
    """
    if not thanks_enabled(analysis):
        return []
    reminded: set[str] = set()
    thanked: set[str] = set()
    for attempt in contents.attempts:
        if not attempt.counts_as_sent:
            continue
        keys = {item.invoice for item in attempt.items}
        (thanked if attempt.stage == THANKS_STAGE.name else reminded).update(keys)
    if not reminded:
        return []  # nobody was ever reminded (a new journal): nobody to thank, and no pass over the invoices
    # Per customer: whether anything is overdue, and the invoices already chased (the only ones kept).
    overdue: set[str] = set()
    customers: dict[str, None] = {}  # in the order of their first invoice
    chased_by_customer: dict[str, list[Invoice]] = {}
    for invoice, result in analysis.invoices.with_results():
        if not invoice.customer or not invoice.number:
            continue
        folded = normalize_header(invoice.customer)
        customers.setdefault(folded)
        if result is not None and result.status == OVERDUE:
            overdue.add(folded)
        if invoice_key(invoice) in reminded:
            chased_by_customer.setdefault(folded, []).append(invoice)
    thanks = []
    for folded in customers:
        chased = chased_by_customer.get(folded)
        if not chased or folded in reminded_today or folded in overdue:
            continue
        if any(analysis.results[inv.row].status != PAID for inv in chased):
            continue
        fresh = [
            inv
            for inv in chased
            if invoice_key(inv) not in thanked
            and (inv.payment_date is None or inv.payment_date >= analysis.as_of - THANKS_WITHIN)
        ]
        email = next((inv.email for inv in reversed(fresh) if inv.email_ok and inv.email), None)
        if fresh and email:
            thanks.append(_thank_you(fresh, email))
    return thanks


def _thank_you(invoices: list[Invoice], email: str) -> Reminder:
    items = [
        DueReminder(
            invoice=inv,
            key=invoice_key(inv),
            stage=THANKS_STAGE,
            stage_index=-1,
            days_past_due=0,
            balance=Decimal(0),
            email=email,
        )
        for inv in invoices
    ]
    return Reminder(invoices[0].customer or "", email, THANKS_STAGE, -1, items)
