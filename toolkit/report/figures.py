"""The receivables report: who owes what and how late, DSO, default rate, payers, credit use.

Pure functions over an ``Analysis`` (``toolkit.pipeline.analyse``) that return
dataclasses; ``toolkit.report.render`` turns them into terminal tables, an HTML
page, CSV and JSON. Rows with errors (status Invalid) are left out of every
figure because nothing in them can be trusted; ``receivables check`` lists them.
Money stays ``Decimal``; ratios and day counts are floats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from toolkit.manual import REPORT_GRADES
from toolkit.pipeline import Analysis
from toolkit.rows.aging import CREDIT, INVALID, OVERDUE, PAID, RowResult
from toolkit.rows.invoices import Invoice
from toolkit.rows.validate import customer_directory
from toolkit.text import normalize_header

ZERO = Decimal(0)

GRADE_LABELS = {
    "A": "good payer",
    "B": "pays a little late",
    "C": "often late",
    "D": "bad payer",
}

DSO_METHOD = (
    "DSO (days sales outstanding) = receivables at the end of the period ÷ sales invoiced in the period "
    "× days in the period. Receivables are everything still owed on the as-of date (the total of the aging "
    "table, invoices on hold included); sales are the amounts of the invoices issued in the period, "
    "the as-of date being its last day."
)
BEST_DSO_METHOD = (
    "Best possible DSO = receivables not yet due ÷ sales invoiced in the period × days in the period: "
    "the DSO if every customer paid on the due date. DSO minus best possible DSO is the average days "
    "delinquent, the part of DSO that comes from late payment."
)
DEFAULT_RATE_METHOD = (
    "Default rate = overdue receivables ÷ all receivables, by amount and by number of invoices. "
    "Invoices on hold count as receivables but not as overdue."
)
PAYER_METHOD = (
    "From each customer's paid invoices that have a payment date: days late = payment date - due date "
    "(early or on time counts as 0). Average days late and share of invoices paid late give the grade."
)


# -- the figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerAging:
    """One customer's unpaid balance, split by aging column."""

    customer: str
    balances: dict[str, Decimal]  # column label -> balance
    counts: dict[str, int]  # column label -> unpaid invoices
    total: Decimal
    overdue: Decimal
    at_risk: Decimal  # the oldest bucket (90+)
    oldest_days_overdue: int
    credits: Decimal = Decimal(0)  # the customer's open credit notes (negative), netted in ``net``

    @property
    def invoices(self) -> int:
        return sum(self.counts.values())

    @property
    def net(self) -> Decimal:
        """What the customer owes once their credit notes are set against it."""
        return self.total + self.credits


@dataclass(frozen=True)
class AgingTable:
    """Customers x aging columns (Current, 1-30, ..., 90+, On hold), sorted by amount overdue."""

    columns: list[str]
    overdue_columns: list[str]
    at_risk_column: str
    on_hold_column: str
    rows: list[CustomerAging]
    column_totals: dict[str, Decimal]
    column_counts: dict[str, int]
    total: Decimal
    overdue: Decimal
    at_risk: Decimal
    credits: Decimal = Decimal(0)  # every open credit note (negative)

    @property
    def invoices(self) -> int:
        return sum(self.column_counts.values())


@dataclass(frozen=True)
class DsoFigure:
    """DSO and best possible DSO over the ``period_days`` days ending on the as-of date."""

    period_days: int
    period_start: date
    period_end: date
    receivables: Decimal
    not_yet_due: Decimal
    sales: Decimal
    sales_invoices: int
    dso: float | None
    best_possible: float | None
    unavailable: str | None = None  # why DSO cannot be computed, when it cannot

    @property
    def average_days_delinquent(self) -> float | None:
        if self.dso is None or self.best_possible is None:
            return None
        return self.dso - self.best_possible


@dataclass(frozen=True)
class DefaultRate:
    """The share of receivables overdue, by amount and by count, for all or for one payment method."""

    label: str
    receivables: Decimal
    overdue: Decimal
    invoices: int
    overdue_invoices: int

    @property
    def by_amount(self) -> float | None:
        return float(self.overdue / self.receivables) if self.receivables else None

    @property
    def by_count(self) -> float | None:
        return self.overdue_invoices / self.invoices if self.invoices else None


@dataclass(frozen=True)
class PayerProfile:
    """How a customer has paid, what they owe now, and why more credit may be unwise."""

    customer: str
    paid_invoices: int  # paid invoices with a payment date: the history the grade comes from
    paid_late: int
    avg_days_late: float | None
    worst_days_late: int | None
    grade: str | None  # A-D, or None without enough history
    open_balance: Decimal
    overdue: Decimal
    at_risk: Decimal
    credit_limit: Decimal | None
    credit_use: float | None
    flags: tuple[str, ...] = ()

    @property
    def share_late(self) -> float | None:
        return self.paid_late / self.paid_invoices if self.paid_invoices else None

    @property
    def grade_label(self) -> str:
        return GRADE_LABELS.get(self.grade or "", "")

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


@dataclass(frozen=True)
class CreditUse:
    """A customer's open balance against their credit limit."""

    customer: str
    balance: Decimal
    limit: Decimal
    limit_source: str

    @property
    def use(self) -> float:
        return float(self.balance / self.limit)

    @property
    def headroom(self) -> Decimal:
        """What the customer may still buy on credit (negative when over the limit)."""
        return self.limit - self.balance

    @property
    def over_limit(self) -> bool:
        return self.balance > self.limit


@dataclass(frozen=True)
class Debtor:
    """One of the customers who owe the most."""

    customer: str
    balance: Decimal
    overdue: Decimal
    at_risk: Decimal
    on_hold: Decimal
    invoices: int
    share: float  # of all receivables
    oldest_days_overdue: int

    @property
    def current(self) -> Decimal:
        """The part not yet due (the Current column)."""
        return self.balance - self.overdue - self.on_hold


@dataclass(frozen=True)
class AtRisk:
    """The oldest aging bucket (90+): the money least likely to come in."""

    column: str
    amount: Decimal
    invoices: int
    share: float | None  # of all receivables
    customers: list[CustomerAging]


class ReminderSent(NamedTuple):
    """One reminder from the reminder journal: which invoice, and the day it was sent."""

    invoice: str
    sent: date


@dataclass(frozen=True)
class ReminderEffect:
    """What happened to the invoices that were reminded."""

    reminded_invoices: int
    paid_after: int
    paid_after_amount: Decimal
    paid_before: int  # already paid when the reminder went out (crossed in the post)
    still_unpaid: int
    still_unpaid_amount: Decimal
    avg_days_to_pay: float | None  # from the last reminder before the payment, where the payment date is known
    unmatched: int  # journal records whose invoice is not in the workbook (or is in a row with errors)

    @property
    def rate(self) -> float | None:
        """Share of reminded invoices paid after a reminder."""
        return self.paid_after / self.reminded_invoices if self.reminded_invoices else None


@dataclass(frozen=True)
class KeyFigures:
    """The three figures ``receivables run`` ends with."""

    overdue: Decimal
    at_risk_column: str
    at_risk: Decimal
    dso: DsoFigure | None


@dataclass(frozen=True)
class CollectionPolicy:
    """Who is collecting, the late charges receivable beside the balances, and who may not be contacted."""

    legal_name: str
    address: str
    tax_id: str
    fees_enabled: bool
    balances: Decimal  # of the unpaid invoices the charges are computed on
    charges: Decimal  # fines, interest and fees receivable today ([late_fees]; computed, never accumulated)
    charged_invoices: int
    do_not_contact_customers: int
    do_not_contact_invoices: int

    @property
    def amount_due(self) -> Decimal:
        return self.balances + self.charges


@dataclass(frozen=True)
class Report:
    """Everything ``receivables report`` shows."""

    source: str
    sheet: str
    as_of: date
    company: str
    currency: str
    locale: str
    manual_source: str
    invoices: int  # invoices counted (rows with errors left out)
    excluded_rows: int
    aging: AgingTable
    dso: list[DsoFigure]
    default_rate: DefaultRate
    default_by_method: list[DefaultRate]
    has_payment_dates: bool
    payers: list[PayerProfile]
    credit: list[CreditUse]
    top_debtors: list[Debtor]
    at_risk: AtRisk
    reminders: ReminderEffect | None
    grade_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    min_paid_invoices: int = 1
    credit_use_warning: float = 0.8
    policy: CollectionPolicy | None = None


# -- building it ----------------------------------------------------------------------------


def customer_key(name: str) -> str:
    """Customers are the same when their names match ignoring case, accents and punctuation."""
    return normalize_header(name) or name.strip().casefold()


class Counted:
    """The invoices every figure is computed from, with their results: rows without errors, in sheet order.

    Gone through anew each time rather than held: a sheet at Excel's last row would
    otherwise hold a million pairs (and, packed, a million rebuilt invoices) at once.
    """

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self._count: int | None = None

    def __iter__(self) -> Iterator[tuple[Invoice, RowResult]]:
        for invoice, result in self.analysis.invoices.with_results():
            if result is None or result.status in (INVALID, CREDIT) or invoice.customer is None:
                continue  # credit notes are netted apart (``open_credits``), not counted as invoices
            yield invoice, result

    def __len__(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self)
        return self._count


def counted(analysis: Analysis) -> Counted:
    """The invoices every figure is computed from: rows without errors, in sheet order (``Counted``)."""
    return Counted(analysis)


def open_credits(analysis: Analysis) -> dict[str, Decimal]:
    """Customer key -> the open balance of their credit notes (negative)."""
    credits: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in analysis.invoices.unpacked():  # a credit note is never packed
        result = analysis.results.get(invoice.row)
        if result is not None and result.status == CREDIT and result.balance and invoice.customer is not None:
            credits[customer_key(invoice.customer)] += result.balance
    return credits


def _unpaid(result: RowResult) -> bool:
    return result.status != PAID and result.status != INVALID and result.balance is not None and result.balance > 0


def _names(lines: Iterable[tuple[Invoice, RowResult]]) -> dict[str, str]:
    """Customer key -> the name as first written."""
    names: dict[str, str] = {}
    for invoice, _ in lines:
        assert invoice.customer is not None
        names.setdefault(customer_key(invoice.customer), invoice.customer)
    return names


def aging_table(analysis: Analysis) -> AgingTable:
    """Customers x buckets of the unpaid balances, with totals, most overdue first."""
    manual = analysis.manual
    current, on_hold = manual.statuses["current"], manual.statuses["on_hold"]
    overdue_columns = manual.aging.labels
    columns = [current, *overdue_columns, on_hold]
    lines = counted(analysis)
    names = _names(lines)
    balances: dict[str, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(columns, ZERO))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(columns, 0))
    oldest: dict[str, int] = defaultdict(int)
    credits = open_credits(analysis)
    for invoice, result in lines:
        if not _unpaid(result) or result.aging_bucket is None or result.balance is None:
            continue
        assert invoice.customer is not None
        key = customer_key(invoice.customer)
        balances[key][result.aging_bucket] += result.balance
        counts[key][result.aging_bucket] += 1
        if result.status == OVERDUE:
            oldest[key] = max(oldest[key], result.days_overdue or 0)
    at_risk_column = overdue_columns[-1]
    rows = [
        CustomerAging(
            customer=names[key],
            balances=dict(by_column),
            counts=dict(counts[key]),
            total=sum(by_column.values(), ZERO),
            overdue=sum((by_column[c] for c in overdue_columns), ZERO),
            at_risk=by_column[at_risk_column],
            oldest_days_overdue=oldest[key],
            credits=credits.get(key, ZERO),
        )
        for key, by_column in balances.items()
    ]
    rows.sort(key=lambda r: (-r.overdue, -r.total, r.customer.casefold()))
    column_totals = {c: sum((r.balances[c] for r in rows), ZERO) for c in columns}
    column_counts = {c: sum(r.counts[c] for r in rows) for c in columns}
    return AgingTable(
        columns=columns,
        overdue_columns=list(overdue_columns),
        at_risk_column=at_risk_column,
        on_hold_column=on_hold,
        rows=rows,
        column_totals=column_totals,
        column_counts=column_counts,
        total=sum(column_totals.values(), ZERO),
        overdue=sum((column_totals[c] for c in overdue_columns), ZERO),
        at_risk=column_totals[at_risk_column],
        credits=sum(credits.values(), ZERO),
    )


def dso(analysis: Analysis, period_days: int, lines: Iterable[tuple[Invoice, RowResult]] | None = None) -> DsoFigure:
    """DSO and best possible DSO over the ``period_days`` days that end on the as-of date (standard method).

    ``lines``: ``counted(analysis)``, when the caller has it already.
    """
    return dso_figures(analysis, [period_days], lines)[0]


def dso_figures(
    analysis: Analysis, periods: Sequence[int], lines: Iterable[tuple[Invoice, RowResult]] | None = None
) -> list[DsoFigure]:
    """``dso`` for each of ``periods``, in one pass over the invoices (at a million rows a pass is seconds)."""
    as_of = analysis.as_of
    starts = [as_of - timedelta(days=days - 1) for days in periods]
    receivables = not_yet_due = ZERO
    sales = [ZERO] * len(periods)
    sales_invoices = [0] * len(periods)
    for invoice, result in counted(analysis) if lines is None else lines:
        if _unpaid(result) and result.balance is not None:
            receivables += result.balance
            if invoice.due_date is not None and invoice.due_date >= as_of:
                not_yet_due += result.balance
        issued = invoice.issue_date
        if issued is not None and issued <= as_of and invoice.amount is not None:
            for k, start in enumerate(starts):
                if start <= issued:
                    sales[k] += invoice.amount
                    sales_invoices[k] += 1
    figures = []
    for k, period_days in enumerate(periods):
        start = starts[k]
        unavailable = None
        if "issue_date" not in analysis.data.layout.columns:
            unavailable = "needs an issue-date column (sales are counted by issue date)"
        elif not sales[k]:
            unavailable = f"no invoices were issued from {start.isoformat()} to {as_of.isoformat()}"
        value = best = None
        if unavailable is None:
            value = float(receivables / sales[k] * period_days)
            best = float(not_yet_due / sales[k] * period_days)
        figures.append(
            DsoFigure(
                period_days,
                start,
                as_of,
                receivables,
                not_yet_due,
                sales[k],
                sales_invoices[k],
                value,
                best,
                unavailable,
            )
        )
    return figures


def _default_rate(label: str, lines: Iterable[tuple[Invoice, RowResult]]) -> DefaultRate:
    receivables = overdue = ZERO
    invoices = overdue_invoices = 0
    for _, result in lines:
        if not _unpaid(result) or result.balance is None:
            continue
        receivables += result.balance
        invoices += 1
        if result.status == OVERDUE:
            overdue += result.balance
            overdue_invoices += 1
    return DefaultRate(label, receivables, overdue, invoices, overdue_invoices)


NO_METHOD = "(no payment method)"


def default_rate(analysis: Analysis) -> DefaultRate:
    """The share of receivables that is overdue, by amount and by number of invoices."""
    return _default_rate("All receivables", counted(analysis))


def default_by_method(analysis: Analysis) -> list[DefaultRate]:
    """The default rate for each payment method (as first written), most overdue first."""
    groups: dict[str, list[tuple[Invoice, RowResult]]] = defaultdict(list)
    labels: dict[str, str] = {}
    for line in counted(analysis):
        method = line[0].payment_method
        key = customer_key(method) if method else ""
        labels.setdefault(key, method or NO_METHOD)
        if _unpaid(line[1]):  # only what is unpaid counts in a default rate: the rest is not kept
            groups[key].append(line)
    rates = [_default_rate(labels[key], groups.get(key, [])) for key in labels]
    rates = [r for r in rates if r.invoices]
    rates.sort(key=lambda r: (-r.overdue, -r.receivables, r.label.casefold()))
    return rates


def days_paid_late(invoice: Invoice) -> int | None:
    """Days from the due date to the payment date; 0 when paid on time or early; None without both dates."""
    if invoice.payment_date is None or invoice.due_date is None:
        return None
    return max((invoice.payment_date - invoice.due_date).days, 0)


def grade_for(avg_days_late: float, share_late: float, limits: dict[str, dict[str, float]]) -> str:
    """The first grade (A, B, C) whose limits the customer keeps, else D."""
    for grade in REPORT_GRADES[:-1]:
        rule = limits[grade]
        if avg_days_late <= rule["max_avg_days_late"] and share_late <= rule["max_share_late"]:
            return grade
    return REPORT_GRADES[-1]


def _grade_limits(analysis: Analysis) -> dict[str, dict[str, float]]:
    settings = analysis.manual.section("report")
    return {g: dict(settings[f"grade_{g.lower()}"]) for g in REPORT_GRADES[:-1]}


def credit_use(analysis: Analysis, table: AgingTable | None = None) -> list[CreditUse]:
    """Open balance against credit limit for every customer who owes something and has a limit, fullest first."""
    directory = customer_directory(analysis.data, analysis.manual)
    default_limit = Decimal(str(analysis.manual.policy["default_credit_limit"]))
    uses = []
    for row in (table or aging_table(analysis)).rows:
        limit, where = directory.limits.get(
            customer_key(row.customer), (default_limit, "[policy] default_credit_limit")
        )
        if limit > 0 and row.total > 0:
            uses.append(CreditUse(row.customer, row.total, limit, where))
    uses.sort(key=lambda u: (-u.use, -u.balance, u.customer.casefold()))
    return uses


def payer_profiles(analysis: Analysis, table: AgingTable | None = None) -> list[PayerProfile]:
    """Every customer's payment history, grade and open balance; flagged customers first."""
    settings = analysis.manual.section("report")
    limits = _grade_limits(analysis)
    min_paid = int(settings["min_paid_invoices"])
    no_credit = set(settings["no_credit_grades"])
    warn_use = float(settings["credit_use_warning"])
    lines = counted(analysis)
    names = _names(lines)
    late_days: dict[str, list[int]] = defaultdict(list)
    for invoice, result in lines:
        if result.status == PAID:
            days = days_paid_late(invoice)
            if days is not None:
                assert invoice.customer is not None
                late_days[customer_key(invoice.customer)].append(days)
    table = table or aging_table(analysis)
    aging = {customer_key(r.customer): r for r in table.rows}
    credit = {customer_key(c.customer): c for c in credit_use(analysis, table)}
    at_risk_column = analysis.manual.aging.labels[-1]
    profiles = []
    for key, name in names.items():
        history = late_days.get(key, [])
        paid_late = sum(1 for d in history if d > 0)
        avg = sum(history) / len(history) if history else None
        grade = None
        if avg is not None and len(history) >= min_paid:
            grade = grade_for(avg, paid_late / len(history), limits)
        row = aging.get(key)
        use = credit.get(key)
        flags = []
        if grade is not None and grade in no_credit:
            flags.append(f"grade {grade}")
        if row is not None and row.at_risk > 0:
            flags.append(f"{at_risk_column} overdue")
        if use is not None and use.over_limit:
            flags.append("over credit limit")
        elif use is not None and use.use >= warn_use:
            flags.append(f"{use.use:.0%} of credit limit")
        profiles.append(
            PayerProfile(
                customer=name,
                paid_invoices=len(history),
                paid_late=paid_late,
                avg_days_late=avg,
                worst_days_late=max(history) if history else None,
                grade=grade,
                open_balance=row.total if row else ZERO,
                overdue=row.overdue if row else ZERO,
                at_risk=row.at_risk if row else ZERO,
                credit_limit=use.limit if use else None,
                credit_use=use.use if use else None,
                flags=tuple(flags),
            )
        )
    grade_order = {g: i for i, g in enumerate(reversed(REPORT_GRADES))}  # D first
    profiles.sort(
        key=lambda p: (
            not p.flagged,
            grade_order.get(p.grade or "", len(REPORT_GRADES)),
            -p.open_balance,
            p.customer.casefold(),
        )
    )
    return profiles


def top_debtors(analysis: Analysis, count: int | None = None, table: AgingTable | None = None) -> list[Debtor]:
    """The customers who owe the most (``[report] top_debtors`` of them by default)."""
    if count is None:
        count = int(analysis.manual.section("report")["top_debtors"])
    table = table or aging_table(analysis)
    # Ranked by what each owes net of their credit notes; one whose credits cover it owes nothing.
    owing = [r for r in table.rows if r.net > 0]
    rows = sorted(owing, key=lambda r: (-r.net, -r.overdue, r.customer.casefold()))[:count]
    return [
        Debtor(
            customer=r.customer,
            balance=r.total,
            overdue=r.overdue,
            at_risk=r.at_risk,
            on_hold=r.balances[table.on_hold_column],
            invoices=r.invoices,
            share=float(r.total / table.total) if table.total else 0.0,
            oldest_days_overdue=r.oldest_days_overdue,
        )
        for r in rows
    ]


def at_risk(analysis: Analysis, table: AgingTable | None = None) -> AtRisk:
    """The oldest bucket: its total, its invoices and the customers in it, largest first."""
    table = table or aging_table(analysis)
    column = table.at_risk_column
    customers = sorted((r for r in table.rows if r.at_risk > 0), key=lambda r: (-r.at_risk, r.customer.casefold()))
    share = float(table.at_risk / table.total) if table.total else None
    return AtRisk(column, table.at_risk, table.column_counts[column], share, customers)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def reminder_effect(analysis: Analysis, sent: Iterable[tuple[Any, Any]]) -> ReminderEffect | None:
    """What became of the reminded invoices, from reminder records ``(invoice number, date sent)``.

    Give it the reminder journal's records (``ReminderSent`` or any pair); reminders sent
    after the as-of date are ignored. An invoice counts as paid after a reminder when it is
    paid now and its payment date (if known) is on or after the first reminder; reminders
    only go to unpaid invoices, so a paid invoice without a payment date counts too.
    Returns None when there are no records, so the report leaves the figure out.
    """
    wanted: list[tuple[str, date]] = []
    for number, when in sent:
        sent_on = _as_date(when)
        if sent_on is not None and sent_on <= analysis.as_of:
            wanted.append((str(number).strip().casefold(), sent_on))
    if not wanted:
        return None
    numbers = {number for number, _ in wanted}
    by_number: dict[str, list[Invoice]] = defaultdict(list)
    results = {}
    for invoice, result in counted(analysis):  # only the reminded invoices are kept
        if invoice.number is not None:
            key = invoice.number.strip().casefold()
            if key in numbers:
                by_number[key].append(invoice)
                results[invoice.row] = result
    reminded: dict[int, list[date]] = defaultdict(list)
    unmatched = 0
    for number, sent_on in wanted:
        rows = by_number.get(number)
        if not rows:
            unmatched += 1
            continue
        for invoice in rows:
            reminded[invoice.row].append(sent_on)
    invoices = {inv.row: inv for rows in by_number.values() for inv in rows}
    paid_after = paid_before = still_unpaid = 0
    paid_amount = unpaid_amount = ZERO
    waits: list[int] = []
    for row, dates in reminded.items():
        invoice, result = invoices[row], results[row]
        if result.status != PAID:
            still_unpaid += 1
            unpaid_amount += result.balance or ZERO
            continue
        paid_on = invoice.payment_date
        if paid_on is not None and paid_on < min(dates):
            paid_before += 1
            continue
        paid_after += 1
        paid_amount += invoice.amount or ZERO
        if paid_on is not None:
            waits.append((paid_on - max(d for d in dates if d <= paid_on)).days)
    return ReminderEffect(
        reminded_invoices=len(reminded),
        paid_after=paid_after,
        paid_after_amount=paid_amount,
        paid_before=paid_before,
        still_unpaid=still_unpaid,
        still_unpaid_amount=unpaid_amount,
        avg_days_to_pay=sum(waits) / len(waits) if waits else None,
        unmatched=unmatched,
    )


def headline_dso(analysis: Analysis, lines: Iterable[tuple[Invoice, RowResult]] | None = None) -> DsoFigure | None:
    """DSO over the longest of the manual's periods (90 days by default), or None if there is none."""
    periods = analysis.manual.section("report").get("dso_periods") or []
    return dso(analysis, max(periods), lines) if periods else None


def key_figures(analysis: Analysis) -> KeyFigures:
    """Total overdue, the oldest bucket (90+) and DSO: what ``receivables run`` ends with.

    The same sums as the totals of ``aging_table``, without building its rows per customer.
    """
    overdue_columns = analysis.manual.aging.labels
    at_risk_column = overdue_columns[-1]
    overdue_set = set(overdue_columns)
    sums = [ZERO, ZERO]  # overdue, at risk

    def lines_noting_overdue() -> Iterator[tuple[Invoice, RowResult]]:
        # One pass over the invoices for both: at a million rows a pass is a second or more.
        for line in counted(analysis):
            result = line[1]
            bucket = result.aging_bucket
            if bucket in overdue_set and _unpaid(result) and result.balance is not None:
                sums[0] += result.balance
                if bucket == at_risk_column:
                    sums[1] += result.balance
            yield line

    lines = lines_noting_overdue()
    headline = headline_dso(analysis, lines)
    for _ in lines:  # without a DSO period the lines are gone through here
        pass
    return KeyFigures(sums[0], at_risk_column, sums[1], headline)


def build_report(analysis: Analysis, reminders: Iterable[tuple[Any, Any]] | None = None) -> Report:
    """Every figure of the report. ``reminders``: records ``(invoice number, date sent)`` from the reminder journal."""
    manual = analysis.manual
    settings = manual.section("report")
    lines = counted(analysis)
    table = aging_table(analysis)
    return Report(
        source=analysis.source,
        sheet=analysis.data.layout.sheet,
        as_of=analysis.as_of,
        company=str(manual.section("company").get("name", "")),
        currency=manual.currency,
        locale=manual.locale,
        manual_source=manual.source,
        invoices=len(lines),
        excluded_rows=sum(1 for r in analysis.results.values() if r.status == INVALID),
        aging=table,
        dso=dso_figures(analysis, settings["dso_periods"]),
        default_rate=default_rate(analysis),
        default_by_method=default_by_method(analysis),
        has_payment_dates="payment_date" in analysis.data.layout.columns,
        payers=payer_profiles(analysis, table),
        credit=credit_use(analysis, table),
        top_debtors=top_debtors(analysis, table=table),
        at_risk=at_risk(analysis, table),
        reminders=reminder_effect(analysis, reminders) if reminders is not None else None,
        grade_limits=_grade_limits(analysis),
        min_paid_invoices=int(settings["min_paid_invoices"]),
        credit_use_warning=float(settings["credit_use_warning"]),
        policy=collection_policy(analysis),
    )


def collection_policy(analysis: Analysis) -> CollectionPolicy:
    """The report's collection-policy figures: charges receivable (late fees) and do-not-contact counts."""
    from toolkit.policy.contact import DoNotContact
    from toolkit.policy.late_fees import fees_enabled

    company = analysis.manual.section("company")
    pairs = analysis.invoices.with_results(unsettled=True)
    unpaid = [inv for inv, result in pairs if result and result.status not in (PAID, INVALID)]
    marks = DoNotContact.of(analysis.invoices.unpacked(), analysis.manual)  # no packed invoice is marked
    blocked = [inv for inv in unpaid if marks.reason(inv.customer, inv.email)]  # unpaid invoices no reminder goes to
    charges = analysis.late_charges()
    return CollectionPolicy(
        legal_name=str(company.get("legal_name", "")).strip() or str(company.get("name", "")),
        address=str(company.get("address", "")),
        tax_id=str(company.get("tax_id", "")),
        fees_enabled=fees_enabled(analysis.manual),
        balances=sum((c.balance for c in charges.values()), ZERO),
        charges=sum((c.charges for c in charges.values()), ZERO),
        charged_invoices=sum(1 for c in charges.values() if c.charges),
        do_not_contact_customers=len({customer_key(inv.customer or "") for inv in blocked}),
        do_not_contact_invoices=len(blocked),
    )


__all__ = [
    "BEST_DSO_METHOD",
    "DEFAULT_RATE_METHOD",
    "DSO_METHOD",
    "GRADE_LABELS",
    "PAYER_METHOD",
    "AgingTable",
    "AtRisk",
    "CollectionPolicy",
    "CreditUse",
    "CustomerAging",
    "Debtor",
    "DefaultRate",
    "DsoFigure",
    "KeyFigures",
    "PayerProfile",
    "ReminderEffect",
    "ReminderSent",
    "Report",
    "aging_table",
    "at_risk",
    "build_report",
    "collection_policy",
    "counted",
    "credit_use",
    "days_paid_late",
    "default_by_method",
    "default_rate",
    "dso",
    "grade_for",
    "headline_dso",
    "key_figures",
    "payer_profiles",
    "reminder_effect",
    "top_debtors",
]
