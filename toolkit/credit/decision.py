"""The credit decision for one order: every rule of ``[credit_policy]`` against the customer's record.

``decide`` reads nothing itself: it takes an ``Analysis`` (``toolkit.pipeline.analyse``) of a
workbook or Google Sheet read without writing, and returns a ``CreditDecision`` holding the
decision and one ``Reason`` per rule, each with the figure it was judged on. The strictest
decision any rule reaches is the answer (``CREDIT_DECISIONS`` runs from lenient to strict).
The payer grade is the report's (``toolkit.report.figures``), so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from toolkit.customers import find_customer
from toolkit.errors import ToolkitError
from toolkit.manual import CREDIT_DECISIONS
from toolkit.pipeline import Analysis
from toolkit.report.figures import PayerProfile, aging_table, counted, customer_key, payer_profiles
from toolkit.rows.aging import ON_HOLD, PAID
from toolkit.rows.invoices import Invoice
from toolkit.rows.validate import customer_directory

APPROVE, CONDITIONS, REFER, DECLINE = CREDIT_DECISIONS
# The exit status of ``receivables credit`` for each decision; a tool error exits with ERROR_EXIT.
EXIT_STATUS = {APPROVE: 0, CONDITIONS: 1, REFER: 2, DECLINE: 3}
ERROR_EXIT = 4
ZERO = Decimal(0)


@dataclass(frozen=True)
class Reason:
    """One rule of the credit policy, the figure it looked at, and the decision it leads to."""

    rule: str  # the [credit_policy] setting behind it, e.g. "over_limit"
    figure: str  # the figure, in plain words: "headroom after this order: -1,200.00"
    decision: str  # what this rule alone decides
    detail: str  # why, in a sentence


@dataclass(frozen=True)
class CreditDecision:
    """The answer for one order, with every reason behind it."""

    customer: str  # as written in the workbook (or as given, for a new customer)
    amount: Decimal
    as_of: date
    decision: str
    reasons: list[Reason]
    conditions: str  # what "approve with conditions" asks; empty for other decisions
    new_customer: bool
    figures: dict[str, Any] = field(default_factory=dict)  # the raw figures, for --json

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS[self.decision]

    @property
    def deciding(self) -> list[Reason]:
        """The reasons that reached the decision (what to tell the salesperson first)."""
        return [r for r in self.reasons if r.decision == self.decision]


def strictest(decisions: list[str]) -> str:
    """The strictest of some decisions (approve when there are none)."""
    return max(decisions, key=CREDIT_DECISIONS.index, default=APPROVE)


@dataclass
class CustomerRecord:
    """What the workbook says about one customer, for the credit rules."""

    name: str
    invoices: list[Invoice]
    open_balance: Decimal
    oldest_bucket_balance: Decimal
    on_hold: list[Invoice]
    broken_promises: list[Invoice]
    limit: Decimal | None  # None: no credit limit applies
    limit_source: str
    profile: PayerProfile | None


def customer_record(analysis: Analysis, key: str | None, name: str) -> CustomerRecord:
    """The customer's open balance, oldest bucket, holds, broken promises, limit and payer grade."""
    manual = analysis.manual
    settings = manual.section("credit_policy")
    oldest_label = manual.aging.labels[-1]
    since = analysis.as_of - timedelta(days=int(settings["broken_promise_days"]))
    record = CustomerRecord(name, [], ZERO, ZERO, [], [], None, "", None)
    for invoice, result in counted(analysis) if key is not None else []:
        assert invoice.customer is not None
        if customer_key(invoice.customer) != key:
            continue
        record.name = record.name if record.invoices else invoice.customer
        record.invoices.append(invoice)
        unpaid = result.status != PAID and result.balance is not None and result.balance > 0
        if unpaid and result.balance is not None:
            record.open_balance += result.balance
            if result.aging_bucket == oldest_label:
                record.oldest_bucket_balance += result.balance
        if unpaid and result.status == ON_HOLD:
            record.on_hold.append(invoice)
        if _broke_promise(invoice, unpaid, since, analysis.as_of):
            record.broken_promises.append(invoice)
    directory = customer_directory(analysis.data, manual)
    if not record.invoices and key is not None:
        record.name = directory.names.get(key, name)  # known from the customers sheet only
    default_limit = Decimal(str(manual.policy["default_credit_limit"]))
    limit, source = directory.limits.get(key or customer_key(name), (default_limit, "[policy] default_credit_limit"))
    if limit > 0:
        record.limit, record.limit_source = limit, source
    if record.invoices:
        table = aging_table(analysis)
        record.profile = next((p for p in payer_profiles(analysis, table) if customer_key(p.customer) == key), None)
    return record


def _broke_promise(invoice: Invoice, unpaid: bool, since: date, as_of: date) -> bool:
    """A promised date in the window that passed with the invoice unpaid, or paid after it."""
    promised = invoice.promised_date
    if promised is None or not since <= promised < as_of:
        return False
    if unpaid:
        return True
    return invoice.payment_date is not None and invoice.payment_date > promised


def decide(analysis: Analysis, customer: str, amount: Decimal, *, new_customer: bool = False) -> CreditDecision:
    """Decide on an order of ``amount`` on credit for ``customer``, by the manual's [credit_policy]."""
    if amount <= 0:
        raise ToolkitError(f"--amount {amount}: the order amount must be more than zero")
    key = find_customer(
        analysis, customer, allow_new=new_customer, hint=", or add --new-customer if this is their first purchase"
    )
    record = customer_record(analysis, key, customer)
    money = _money(analysis)
    settings = analysis.manual.section("credit_policy")
    first_purchase = not record.invoices
    reasons = [_limit_reason(record, amount, money, settings)]
    if first_purchase:
        reasons.append(_first_order_reason(amount, money, settings))
    else:
        reasons += [
            _grade_reason(record, settings),
            _oldest_reason(record, analysis.manual.aging.labels[-1], money, settings),
            _promises_reason(record, settings),
            _hold_reason(record, money, settings),
        ]
    large = _large_order_reason(amount, money, settings)
    if large is not None:
        reasons.append(large)
    decision = strictest([r.decision for r in reasons])
    return CreditDecision(
        customer=record.name,
        amount=amount,
        as_of=analysis.as_of,
        decision=decision,
        reasons=reasons,
        conditions=str(settings["conditions"]) if decision == CONDITIONS else "",
        new_customer=first_purchase,
        figures=_figures(record, amount),
    )


def _money(analysis: Analysis) -> Any:
    from toolkit.money import CurrencyFormat

    return CurrencyFormat(analysis.manual.locale, analysis.manual.currency).format


def _limit_reason(record: CustomerRecord, amount: Decimal, money: Any, settings: dict[str, Any]) -> Reason:
    if record.limit is None:
        return Reason(
            "over_limit",
            f"open balance {money(record.open_balance)}; no credit limit",
            APPROVE,
            "no credit limit is set for this customer ([credit_limits], the customers sheet or "
            "[policy] default_credit_limit)",
        )
    headroom = record.limit - record.open_balance - amount
    figure = (
        f"headroom {money(headroom)} = limit {money(record.limit)} - open balance "
        f"{money(record.open_balance)} - this order {money(amount)}"
    )
    if headroom < 0:
        return Reason(
            "over_limit",
            figure,
            settings["over_limit"],
            f"the order goes past the credit limit ({record.limit_source})",
        )
    return Reason("over_limit", figure, APPROVE, f"within the credit limit ({record.limit_source})")


def _first_order_reason(amount: Decimal, money: Any, settings: dict[str, Any]) -> Reason:
    limit = Decimal(str(settings["first_order_limit"]))
    figure = f"first purchase of {money(amount)}; first-order limit {money(limit)}"
    if amount > limit:
        return Reason(
            "first_order_above_limit",
            figure,
            settings["first_order_above_limit"],
            "a first order above the first-order limit",
        )
    return Reason("first_order_limit", figure, APPROVE, "no history yet: a first order within the first-order limit")


def _large_order_reason(amount: Decimal, money: Any, settings: dict[str, Any]) -> Reason | None:
    threshold = Decimal(str(settings["review_above"]))
    if not threshold or amount <= threshold:
        return None
    return Reason(
        "review_above",
        f"order {money(amount)} is above {money(threshold)}",
        REFER,
        "a large order always goes to the owner",
    )


def _grade_reason(record: CustomerRecord, settings: dict[str, Any]) -> Reason:
    profile = record.profile
    if profile is None or profile.grade is None:
        paid = profile.paid_invoices if profile is not None else 0
        return Reason(
            "ungraded",
            f"no payer grade ({paid} paid invoice(s) with a payment date)",
            settings["ungraded"],
            "too little payment history to grade ([report] min_paid_invoices)",
        )
    share = profile.share_late or 0.0
    basis = (
        f"grade {profile.grade} ({profile.grade_label}): {profile.paid_invoices} paid invoice(s), "
        f"average {profile.avg_days_late or 0:.1f} days late, {share:.0%} paid late"
    )
    return Reason(
        f"grade_{profile.grade.lower()}",
        basis,
        settings[f"grade_{profile.grade.lower()}"],
        f"the payer grade is {profile.grade} ({profile.grade_label})",
    )


def _oldest_reason(record: CustomerRecord, label: str, money: Any, settings: dict[str, Any]) -> Reason:
    tolerance = Decimal(str(settings["oldest_bucket_tolerance"]))
    figure = f"{money(record.oldest_bucket_balance)} overdue {label} days"
    if record.oldest_bucket_balance > tolerance:
        return Reason("oldest_bucket", figure, settings["oldest_bucket"], f"a balance {label} days overdue")
    return Reason("oldest_bucket", figure, APPROVE, f"nothing {label} days overdue")


def _promises_reason(record: CustomerRecord, settings: dict[str, Any]) -> Reason:
    count, days = len(record.broken_promises), int(settings["broken_promise_days"])
    numbers = ", ".join(inv.number or f"row {inv.row}" for inv in record.broken_promises[:5])
    figure = f"{count} broken promise(s) in the last {days} days" + (f" ({numbers})" if numbers else "")
    if count > int(settings["max_broken_promises"]):
        return Reason("broken_promises", figure, settings["broken_promises"], "promises to pay were broken")
    return Reason("broken_promises", figure, APPROVE, "no more broken promises than the policy allows")


def _hold_reason(record: CustomerRecord, money: Any, settings: dict[str, Any]) -> Reason:
    count = len(record.on_hold)
    total = sum((inv.balance or ZERO for inv in record.on_hold), ZERO)
    numbers = ", ".join(inv.number or f"row {inv.row}" for inv in record.on_hold[:5])
    figure = f"{count} invoice(s) on hold or in dispute, {money(total)}" + (f" ({numbers})" if numbers else "")
    if count > int(settings["max_on_hold"]):
        return Reason("on_hold", figure, settings["on_hold"], "invoices on hold or in dispute")
    return Reason("on_hold", figure, APPROVE, "nothing on hold or in dispute")


def _figures(record: CustomerRecord, amount: Decimal) -> dict[str, Any]:
    profile = record.profile
    return {
        "open_balance": str(record.open_balance),
        "credit_limit": str(record.limit) if record.limit is not None else None,
        "credit_limit_source": record.limit_source or None,
        "headroom": str(record.limit - record.open_balance - amount) if record.limit is not None else None,
        "oldest_bucket_balance": str(record.oldest_bucket_balance),
        "broken_promises": [inv.number for inv in record.broken_promises],
        "on_hold": [inv.number for inv in record.on_hold],
        "grade": profile.grade if profile else None,
        "invoices": len(record.invoices),
    }


def decision_json(result: CreditDecision) -> dict[str, Any]:
    """The decision as JSON for other programs: the same content as the terminal shows."""
    return {
        "customer": result.customer,
        "amount": str(result.amount),
        "as_of": result.as_of.isoformat(),
        "decision": result.decision,
        "exit_status": result.exit_status,
        "conditions": result.conditions or None,
        "new_customer": result.new_customer,
        "reasons": [
            {"rule": r.rule, "figure": r.figure, "decision": r.decision, "detail": r.detail} for r in result.reasons
        ],
        "figures": result.figures,
    }


def credit_decision(
    source: Any, manual: Any, as_of: date, customer: str, amount: Decimal, *, new_customer: bool = False
) -> CreditDecision:
    """Read the source (never writing it) and decide on the order."""
    from toolkit.pipeline import run_source

    analysis, _ = run_source(source, manual, as_of, write=False)
    return decide(analysis, customer, amount, new_customer=new_customer)
