"""Showing the receivables report: rich tables, a self-contained HTML page with charts, CSV and JSON.

The figures come from ``toolkit.report.figures``; this module only formats them. Every
export (CSV, JSON, HTML) passes the workbook's text through
``toolkit.report.export_safety`` so a customer named ``=HYPERLINK(...)`` never becomes a
formula in a spreadsheet. The HTML page is one file with no scripts and no
links to anything outside it (its Content-Security-Policy forbids them), so it
opens anywhere, offline, and prints.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import (
    format_compact_currency,
    format_currency,
    format_decimal,
    format_percent,
    get_currency_symbol,
)
from jinja2 import DictLoader, Environment, StrictUndefined
from markupsafe import Markup
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from toolkit import __version__
from toolkit.errors import ReportWriteError
from toolkit.money import CurrencyFormat
from toolkit.report.charts import CURRENT_COLOR, ON_HOLD_COLOR, Series, column_chart, overdue_colors, stacked_bar_chart
from toolkit.report.export_safety import neutralise_formula, safe_cell
from toolkit.report.figures import (
    BEST_DSO_METHOD,
    DEFAULT_RATE_METHOD,
    DSO_METHOD,
    GRADE_LABELS,
    PAYER_METHOD,
    Debtor,
    DefaultRate,
    DsoFigure,
    KeyFigures,
    PayerProfile,
    Report,
    customer_key,
)
from toolkit.text import printable

MAX_TERMINAL_ROWS = 15
TEMPLATE = "report_page.html.j2"
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")


class Formats:
    """Money, percentages, days and dates written the way the manual's locale writes them."""

    def __init__(self, currency: str, locale: str) -> None:
        self.currency, self.locale = currency, locale
        self._money = CurrencyFormat(locale, currency)  # the one money formatter (toolkit.money)
        # The locale's currency pattern without decimals: "¤#,##0" (en_US), "#,##0 ¤" (de_DE).
        self._whole = Locale.parse(locale).currency_formats["standard"].pattern.replace(".00", "")

    def money(self, amount: Decimal | float | None) -> str:
        if amount is None:
            return "–"
        return self._money.format(amount if isinstance(amount, Decimal) else Decimal(str(amount)))

    @property
    def symbol(self) -> str:
        """The currency's symbol in this locale: ``$``, ``R$``, ``€``."""
        return get_currency_symbol(self.currency, locale=self.locale)

    def plain(self, amount: Decimal | float) -> str:
        """``3,000``: whole units without the symbol, for terminal tables whose title names the currency."""
        return format_decimal(amount, format="#,##0", locale=self.locale)

    def whole(self, amount: Decimal | float) -> str:
        """``$3,000``: rounded to whole units, for the narrow columns of terminal tables."""
        return format_currency(amount, self.currency, locale=self.locale, format=self._whole, currency_digits=False)

    def compact(self, amount: Decimal | float) -> str:
        """``$12.3K``: for chart axes and bar labels."""
        if amount == 0:
            return self.whole(0)
        return format_compact_currency(amount, self.currency, locale=self.locale, fraction_digits=1)

    def label(self, amount: Decimal | float) -> str:
        """A bar's value: whole units while short (``$3,700``), compact when long (``$1.2M``)."""
        text = self.whole(amount)
        return text if len(text) <= 8 else self.compact(amount)

    def percent(self, ratio: float | None) -> str:
        if ratio is None:
            return "–"
        return format_percent(ratio, format="#,##0.0%", locale=self.locale)

    def days(self, value: float | None) -> str:
        if value is None:
            return "–"
        return format_decimal(value, format="#,##0.0", locale=self.locale)

    def date(self, value: date) -> str:
        return format_date(value, format="medium", locale=self.locale)


def formats_for(report: Report) -> Formats:
    return Formats(report.currency, report.locale)


def grade_rules_text(report: Report, f: Formats) -> list[str]:
    """One line per grade saying what earns it, from the manual's limits."""
    lines = []
    for grade, limits in report.grade_limits.items():
        lines.append(
            f"{grade} ({GRADE_LABELS[grade]}): on average at most {f.days(limits['max_avg_days_late'])} days late "
            f"and at most {f.percent(limits['max_share_late'])} of invoices paid late"
        )
    lines.append(f"D ({GRADE_LABELS['D']}): the rest")
    return lines


def dso_sentence(figure: DsoFigure, f: Formats) -> str:
    """The DSO of one period with its sums written out, so anyone can check it."""
    period = f"{figure.period_days} days ({f.date(figure.period_start)} – {f.date(figure.period_end)})"
    if figure.dso is None or figure.best_possible is None:
        return f"{period}: DSO cannot be computed: {figure.unavailable}."
    return (
        f"{period}: receivables {f.money(figure.receivables)} ÷ sales {f.money(figure.sales)} "
        f"({figure.sales_invoices} invoice{'s' if figure.sales_invoices != 1 else ''}) × {figure.period_days} "
        f"= {f.days(figure.dso)} days. Best possible: not yet due {f.money(figure.not_yet_due)} ÷ "
        f"{f.money(figure.sales)} × {figure.period_days} = {f.days(figure.best_possible)} days. "
        f"Average days delinquent: {f.days(figure.average_days_delinquent)}."
    )


def key_figures_line(figures: KeyFigures, currency: str, locale: str) -> str:
    """``Overdue $4,300.00 · 90+ $1,200.00 · DSO 41.2 days (last 90 days)``: the end of a run's summary."""
    f = Formats(currency, locale)
    if figures.dso is None:
        dso_text = "DSO –"
    elif figures.dso.dso is None:
        dso_text = f"DSO – ({figures.dso.unavailable})"
    else:
        dso_text = f"DSO {f.days(figures.dso.dso)} days (last {figures.dso.period_days} days)"
    return f"Overdue {f.money(figures.overdue)} · {figures.at_risk_column} {f.money(figures.at_risk)} · {dso_text}"


# -- the terminal ----------------------------------------------------------------------------


def _table(title: str, show_header: bool = True) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        show_edge=False,
        pad_edge=False,
        box=box.SIMPLE_HEAD,
        show_header=show_header,
    )


def _columns(table: Table, *names: str, text: tuple[str, ...] = ("Customer", "Payment method")) -> None:
    """Text columns wrap; number columns are right-aligned and never broken across lines."""
    for name in names:
        if name in text:
            table.add_column(name)
        else:
            table.add_column(name, justify="right", no_wrap=True)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _more(console: Console, shown: int, total: int, what: str) -> None:
    if total > shown:
        console.print(f"... and {total - shown} more {what}: see them all with --html FILE or --csv FILE.", style="dim")


def print_report(console: Console, report: Report, limit: int = MAX_TERMINAL_ROWS) -> None:
    """The whole report as rich tables; amounts in tables rounded to whole units, long lists cut to ``limit``."""
    f = formats_for(report)
    _print_heading(console, report, f)
    for section in _SECTIONS:
        section(console, report, f, limit)


def _print_heading(console: Console, report: Report, f: Formats) -> None:
    console.print(
        Text.assemble(
            ("Receivables report", "bold"),
            f" — {report.source} (sheet '{report.sheet}'), as of {f.date(report.as_of)}",
        ),
        soft_wrap=True,
    )
    _print_who_is_collecting(console, report)
    if report.excluded_rows:
        console.print(
            f"{_plural(report.excluded_rows, 'row')} with errors left out of every figure; "
            f"run 'receivables check {report.source}' to see them.",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )


def _print_key_figures(console: Console, report: Report, f: Formats, limit: int) -> None:
    """Receivables, overdue, at risk and DSO."""
    aging = report.aging
    figures = _table("Key figures", show_header=False)
    figures.add_column("")
    figures.add_column("", justify="right")
    figures.add_column("")
    rate = report.default_rate
    risk = report.at_risk
    figures.add_row("Receivables", f.money(aging.total), _plural(aging.invoices, "unpaid invoice"))
    if aging.credits:
        figures.add_row("Credit notes", f.money(aging.credits), "open credit notes, never chased")
        figures.add_row("Net of credit notes", f.money(aging.total + aging.credits), "what customers owe, net")
    figures.add_row(
        "Overdue",
        f.money(aging.overdue),
        f"{f.percent(rate.by_amount)} of the amount, {rate.overdue_invoices} of {rate.invoices} invoices",
    )
    figures.add_row(
        f"At risk ({risk.column})",
        f.money(risk.amount),
        f"{f.percent(risk.share)} of the amount, {_plural(risk.invoices, 'invoice')}, "
        f"{_plural(len(risk.customers), 'customer')}",
    )
    for figure in report.dso:
        label = f"DSO, last {figure.period_days} days"
        if figure.dso is None:
            figures.add_row(label, "–", figure.unavailable or "")
        else:
            figures.add_row(
                label,
                f"{f.days(figure.dso)} days",
                f"best possible {f.days(figure.best_possible)}; "
                f"{f.days(figure.average_days_delinquent)} days delinquent",
            )
    _policy_rows(figures, report, f)
    console.print()
    console.print(figures)


def _print_aging(console: Console, report: Report, f: Formats, limit: int) -> None:
    """Each customer's balance by aging bucket, most overdue first."""
    w = f.plain
    unit = f" ({f.symbol})"
    aging = report.aging
    table = _table("Aging by customer, most overdue first" + unit)
    _columns(table, "Customer", *aging.columns, "Total")
    for row in aging.rows[:limit]:
        table.add_row(
            Text(printable(row.customer)),
            *[w(row.balances[c]) if row.balances[c] else "–" for c in aging.columns],
            w(row.total),
        )
    table.add_section()
    table.add_row(Text("Total", style="bold"), *[w(aging.column_totals[c]) for c in aging.columns], w(aging.total))
    console.print()
    console.print(table)
    _more(console, min(limit, len(aging.rows)), len(aging.rows), "customers")


def _print_default_by_method(console: Console, report: Report, f: Formats, limit: int) -> None:
    """The default rate per payment method."""
    unit = f" ({f.symbol})"
    rate = report.default_rate
    if report.default_by_method:
        methods = _table("Default rate by payment method" + unit)
        _columns(methods, "Payment method", "Receivables", "Overdue", "By amount", "Invoices", "By count")
        for item in report.default_by_method[:limit]:
            methods.add_row(*_rate_cells(item, f))
        methods.add_section()
        methods.add_row(*_rate_cells(rate, f))
        console.print()
        console.print(methods)


def _print_at_risk(console: Console, report: Report, f: Formats, limit: int) -> None:
    """The customers with money in the oldest bucket."""
    w = f.plain
    unit = f" ({f.symbol})"
    risk = report.at_risk
    if risk.customers:
        at_risk = _table(f"At risk: {risk.column} days overdue" + unit)
        _columns(at_risk, "Customer", "Amount", "Invoices", "Oldest (days)")
        for row in risk.customers[:limit]:
            at_risk.add_row(
                Text(printable(row.customer)),
                w(row.at_risk),
                str(row.counts[risk.column]),
                str(row.oldest_days_overdue),
            )
        console.print()
        console.print(at_risk)
        _more(console, min(limit, len(risk.customers)), len(risk.customers), "customers at risk")


def _print_credit_use(console: Console, report: Report, f: Formats, limit: int) -> None:
    """Credit limit use, fullest first."""
    w = f.plain
    unit = f" ({f.symbol})"
    if report.credit:
        credit = _table("Credit limit use, fullest first" + unit)
        _columns(credit, "Customer", "Owes", "Limit", "Use", "Headroom")
        for use in report.credit[:limit]:
            style = "red" if use.over_limit else ("yellow" if use.use >= report.credit_use_warning else "")
            credit.add_row(
                Text(printable(use.customer)),
                w(use.balance),
                w(use.limit),
                Text(f.percent(use.use), style=style),
                w(use.headroom),
            )
        console.print()
        console.print(credit)
        _more(console, min(limit, len(report.credit)), len(report.credit), "customers with a limit")


def _print_top_debtors(console: Console, report: Report, f: Formats, limit: int) -> None:
    """The customers who owe the most."""
    w = f.plain
    unit = f" ({f.symbol})"
    risk = report.at_risk
    debtors = _table("Top debtors" + unit)
    _columns(debtors, "#", "Customer", "Owes", "Share", "Overdue", risk.column, "Oldest (days)")
    for number, debtor in enumerate(report.top_debtors, start=1):
        debtors.add_row(
            str(number),
            Text(printable(debtor.customer)),
            w(debtor.balance),
            f.percent(debtor.share),
            w(debtor.overdue) if debtor.overdue else "–",
            w(debtor.at_risk) if debtor.at_risk else "–",
            str(debtor.oldest_days_overdue) if debtor.oldest_days_overdue else "–",
        )
    console.print()
    console.print(debtors)


def _print_payers(console: Console, report: Report, f: Formats, limit: int) -> None:
    """Payer grades, flagged customers first."""
    w = f.plain
    unit = f" ({f.symbol})"
    payers = _table("Payers: flagged first, their grade or balance argues against more credit" + unit)
    _columns(
        payers,
        "Customer",
        "Grade",
        "Paid",
        "Late",
        "Avg days late",
        "Owes",
        "Credit caution",
        text=("Customer", "Grade", "Credit caution"),
    )
    for profile in report.payers[:limit]:
        payers.add_row(
            Text(printable(profile.customer)),
            profile.grade or "–",
            str(profile.paid_invoices),
            f.percent(profile.share_late),
            f.days(profile.avg_days_late),
            w(profile.open_balance),
            Text(printable("; ".join(profile.flags)), style="red" if profile.flags else ""),
        )
    console.print()
    console.print(payers)
    _more(console, min(limit, len(report.payers)), len(report.payers), "customers")
    if report.has_payment_dates:
        console.print("Grades: " + "; ".join(grade_rules_text(report, f)) + ".", style="dim", markup=False)
    else:
        console.print(
            "Payers are not graded: the workbook has no payment-date column (add one, e.g. 'Payment Date').",
            style="dim",
        )


def _print_reminder_effect(console: Console, report: Report, f: Formats, limit: int) -> None:
    """What reminders brought in, from the journal."""
    if report.reminders is not None:
        console.print()
        console.print(Text("Reminders", style="bold"))
        console.print(reminder_sentence(report, f), markup=False)


def _print_methods(console: Console, report: Report, f: Formats, limit: int) -> None:
    """How each figure is computed, written out."""
    console.print()
    console.print(Text("How the figures are computed", style="bold"))
    for text in (
        *[dso_sentence(d, f) for d in report.dso],
        DSO_METHOD,
        BEST_DSO_METHOD,
        DEFAULT_RATE_METHOD,
        PAYER_METHOD,
    ):
        console.print(text, style="dim", markup=False, highlight=False)


_SECTIONS: tuple[Callable[[Console, Report, Formats, int], None], ...] = (
    _print_key_figures,
    _print_aging,
    _print_default_by_method,
    _print_at_risk,
    _print_credit_use,
    _print_top_debtors,
    _print_payers,
    _print_reminder_effect,
    _print_methods,
)


def _print_who_is_collecting(console: Console, report: Report) -> None:
    """The legal name, tax id and address of the company collecting, when the manual gives them."""
    who = report.policy
    if who is not None and (who.tax_id or who.address):
        console.print(Text(" · ".join(x for x in (who.legal_name, who.tax_id, who.address) if x)), soft_wrap=True)


def _policy_rows(figures: Table, report: Report, f: Formats) -> None:
    """Key-figure rows of the collection policy: who is collecting, charges receivable, do-not-contact."""
    policy = report.policy
    if policy is None:
        return
    if policy.fees_enabled:
        figures.add_row(
            "Late charges",
            f.money(policy.charges),
            f"on {_plural(policy.charged_invoices, 'invoice')}, beside balances of {f.money(policy.balances)}: "
            f"{f.money(policy.amount_due)} due today",
        )
    if policy.do_not_contact_invoices:
        figures.add_row(
            "Do not contact",
            _plural(policy.do_not_contact_customers, "customer"),
            f"{_plural(policy.do_not_contact_invoices, 'invoice')}: no reminders go to them",
        )


def _rate_cells(rate: DefaultRate, f: Formats) -> list[Any]:
    return [
        Text(printable(rate.label)),
        f.plain(rate.receivables),
        f.plain(rate.overdue),
        f.percent(rate.by_amount),
        f"{rate.overdue_invoices}/{rate.invoices}",
        f.percent(rate.by_count),
    ]


def reminder_sentence(report: Report, f: Formats) -> str:
    """What the reminders achieved, in one or two sentences."""
    effect = report.reminders
    if effect is None:
        return ""
    text = (
        f"{effect.reminded_invoices} invoice{'s' if effect.reminded_invoices != 1 else ''} reminded; "
        f"{effect.paid_after} paid after a reminder ({f.percent(effect.rate)}, {f.money(effect.paid_after_amount)})"
    )
    if effect.avg_days_to_pay is not None:
        text += f", on average {f.days(effect.avg_days_to_pay)} days after it"
    text += f"; {effect.still_unpaid} still unpaid ({f.money(effect.still_unpaid_amount)})."
    if effect.paid_before:
        text += f" {effect.paid_before} were already paid when the reminder went out."
    if effect.unmatched:
        text += f" {effect.unmatched} journal records name invoices not in the workbook (or in rows with errors)."
    return text


# -- JSON ------------------------------------------------------------------------------------


def _m(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _rate_json(rate: DefaultRate) -> dict[str, Any]:
    return {
        "label": neutralise_formula(rate.label),
        "receivables": _m(rate.receivables),
        "overdue": _m(rate.overdue),
        "invoices": rate.invoices,
        "overdue_invoices": rate.overdue_invoices,
        "by_amount": _r(rate.by_amount),
        "by_count": _r(rate.by_count),
    }


def _policy_json(report: Report) -> dict[str, Any] | None:
    policy, t = report.policy, neutralise_formula
    if policy is None:
        return None
    return {
        "legal_name": t(policy.legal_name),
        "address": t(policy.address),
        "tax_id": t(policy.tax_id),
        "late_fees": policy.fees_enabled,
        "balances": _m(policy.balances),
        "charges": _m(policy.charges),
        "amount_due": _m(policy.amount_due),
        "charged_invoices": policy.charged_invoices,
        "do_not_contact_customers": policy.do_not_contact_customers,
        "do_not_contact_invoices": policy.do_not_contact_invoices,
    }


def report_json(report: Report) -> dict[str, Any]:
    """The report for other programs. Money as decimal strings, shares as fractions (0.25 = 25 %)."""
    t = neutralise_formula
    return {
        "source": t(report.source),
        "sheet": t(report.sheet),
        "as_of": report.as_of.isoformat(),
        "currency": report.currency,
        "invoices": report.invoices,
        "excluded_rows": report.excluded_rows,
        "collection_policy": _policy_json(report),
        "aging": _aging_json(report),
        "dso": [_dso_json(d) for d in report.dso],
        "default_rate": _rate_json(report.default_rate),
        "default_rate_by_payment_method": [_rate_json(r) for r in report.default_by_method],
        "at_risk": {
            "column": t(report.at_risk.column),
            "amount": _m(report.at_risk.amount),
            "invoices": report.at_risk.invoices,
            "share": _r(report.at_risk.share),
            "customers": [{"customer": t(r.customer), "amount": _m(r.at_risk)} for r in report.at_risk.customers],
        },
        "has_payment_dates": report.has_payment_dates,
        "payers": [_payer_json(p) for p in report.payers],
        "credit_use": [
            {
                "customer": t(c.customer),
                "balance": _m(c.balance),
                "limit": _m(c.limit),
                "use": _r(c.use),
                "headroom": _m(c.headroom),
                "limit_source": t(c.limit_source),
            }
            for c in report.credit
        ],
        "top_debtors": [_debtor_json(d) for d in report.top_debtors],
        "reminders": _reminders_json(report),
        "grade_limits": report.grade_limits,
        "methods": {
            "dso": DSO_METHOD,
            "best_possible_dso": BEST_DSO_METHOD,
            "default_rate": DEFAULT_RATE_METHOD,
            "payers": PAYER_METHOD,
        },
    }


def _aging_json(report: Report) -> dict[str, Any]:
    t = neutralise_formula
    aging = report.aging
    return {
        "columns": [t(c) for c in aging.columns],
        "overdue_columns": [t(c) for c in aging.overdue_columns],
        "at_risk_column": t(aging.at_risk_column),
        "customers": [
            {
                "customer": t(row.customer),
                "balances": {t(c): _m(row.balances[c]) for c in aging.columns},
                "invoices": row.invoices,
                "total": _m(row.total),
                "overdue": _m(row.overdue),
                "at_risk": _m(row.at_risk),
                "oldest_days_overdue": row.oldest_days_overdue,
            }
            for row in aging.rows
        ],
        "totals": {t(c): _m(aging.column_totals[c]) for c in aging.columns},
        "total": _m(aging.total),
        "overdue": _m(aging.overdue),
        "at_risk": _m(aging.at_risk),
    }


def _dso_json(d: DsoFigure) -> dict[str, Any]:
    return {
        "period_days": d.period_days,
        "from": d.period_start.isoformat(),
        "to": d.period_end.isoformat(),
        "receivables": _m(d.receivables),
        "not_yet_due": _m(d.not_yet_due),
        "sales": _m(d.sales),
        "sales_invoices": d.sales_invoices,
        "dso": _r(d.dso, 2),
        "best_possible_dso": _r(d.best_possible, 2),
        "average_days_delinquent": _r(d.average_days_delinquent, 2),
        "unavailable": d.unavailable,
    }


def _payer_json(p: PayerProfile) -> dict[str, Any]:
    t = neutralise_formula
    return {
        "customer": t(p.customer),
        "paid_invoices": p.paid_invoices,
        "paid_late": p.paid_late,
        "share_late": _r(p.share_late),
        "avg_days_late": _r(p.avg_days_late, 2),
        "worst_days_late": p.worst_days_late,
        "grade": p.grade,
        "open_balance": _m(p.open_balance),
        "overdue": _m(p.overdue),
        "credit_limit": _m(p.credit_limit),
        "credit_use": _r(p.credit_use),
        "flags": [t(x) for x in p.flags],
    }


def _debtor_json(d: Debtor) -> dict[str, Any]:
    return {
        "customer": neutralise_formula(d.customer),
        "balance": _m(d.balance),
        "share": _r(d.share),
        "overdue": _m(d.overdue),
        "at_risk": _m(d.at_risk),
        "invoices": d.invoices,
        "oldest_days_overdue": d.oldest_days_overdue,
    }


def _reminders_json(report: Report) -> dict[str, Any] | None:
    effect = report.reminders
    if effect is None:
        return None
    return {
        "reminded_invoices": effect.reminded_invoices,
        "paid_after": effect.paid_after,
        "paid_after_amount": _m(effect.paid_after_amount),
        "rate": _r(effect.rate),
        "paid_before": effect.paid_before,
        "still_unpaid": effect.still_unpaid,
        "still_unpaid_amount": _m(effect.still_unpaid_amount),
        "avg_days_to_pay": _r(effect.avg_days_to_pay, 2),
        "unmatched": effect.unmatched,
    }


# -- CSV -------------------------------------------------------------------------------------


def csv_rows(report: Report) -> list[list[Any]]:
    """One row per customer (most overdue first), every per-customer figure; header first.

    Text is neutralised against formula injection; numbers stay numbers.
    """
    aging = report.aging
    header = [
        "Customer",
        *aging.columns,
        "Total",
        "Overdue",
        "Unpaid invoices",
        "Oldest days overdue",
        "Credit limit",
        "Credit use",
        "Paid invoices",
        "Paid late",
        "Share paid late",
        "Average days late",
        "Grade",
        "Credit caution",
    ]
    by_key = {customer_key(p.customer): p for p in report.payers}
    order = [customer_key(r.customer) for r in aging.rows]
    in_aging = set(order)
    order += sorted((k for k in by_key if k not in in_aging), key=lambda k: by_key[k].customer.casefold())
    aging_rows = {customer_key(r.customer): r for r in aging.rows}
    rows: list[list[Any]] = [[safe_cell(h) for h in header]]
    for key in order:
        profile, row = by_key.get(key), aging_rows.get(key)
        name = row.customer if row else profile.customer if profile else key
        cells: list[Any] = [name]
        cells += [row.balances[c] if row else Decimal(0) for c in aging.columns]
        cells += [
            row.total if row else Decimal(0),
            row.overdue if row else Decimal(0),
            row.invoices if row else 0,
            row.oldest_days_overdue if row else 0,
        ]
        if profile is not None:
            cells += [
                profile.credit_limit,
                _r(profile.credit_use),
                profile.paid_invoices,
                profile.paid_late,
                _r(profile.share_late),
                _r(profile.avg_days_late, 2),
                profile.grade,
                "; ".join(profile.flags),
            ]
        else:
            cells += [None] * 8
        rows.append([safe_cell(c) for c in cells])
    return rows


def csv_text(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in csv_rows(report):
        writer.writerow(["" if c is None else c for c in row])
    return buffer.getvalue()


# -- HTML ------------------------------------------------------------------------------------


def _environment() -> Environment:
    source = resources.files("toolkit").joinpath(TEMPLATE).read_text(encoding="utf-8")
    env = Environment(
        loader=DictLoader({TEMPLATE: source}),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["cell"] = lambda value: neutralise_formula(str(value))
    return env


def charts(report: Report, f: Formats) -> dict[str, Markup]:
    """The three charts of the page: aging by bucket, top debtors, amount overdue by customer."""
    aging = report.aging
    colors = aging_colors(report)
    t = neutralise_formula
    by_bucket = column_chart(
        "chart-aging",
        "Receivables by aging bucket",
        [(t(c), float(aging.column_totals[c]), colors[c]) for c in aging.columns],
        f.label,
        f.compact,
        empty_message="Nothing is owed",
    )
    debtors = stacked_bar_chart(
        "chart-debtors",
        "Top debtors",
        [(t(d.customer), [float(d.current), float(d.overdue), float(d.on_hold)]) for d in report.top_debtors],
        [
            Series("Not yet due", CURRENT_COLOR),
            Series("Overdue", colors[aging.overdue_columns[-1]]),
            Series(t(aging.on_hold_column), ON_HOLD_COLOR),
        ],
        f.label,
        f.compact,
        min_height=300,
        empty_message="Nothing is owed",
    )
    count = len(report.top_debtors) or 10
    late = [r for r in aging.rows if r.overdue > 0][:count]
    overdue = stacked_bar_chart(
        "chart-overdue",
        "Amount overdue by customer",
        [(t(r.customer), [float(r.balances[c]) for c in aging.overdue_columns]) for r in late],
        [Series(t(c), colors[c]) for c in aging.overdue_columns],
        f.label,
        f.compact,
        width=1100,
        label_width=220,
        empty_message="Nothing is overdue",
    )
    return {"aging": by_bucket, "debtors": debtors, "overdue": overdue}


def aging_colors(report: Report) -> dict[str, str]:
    """The colour of each aging column, the same in the charts and the table headers."""
    aging = report.aging
    colors = {aging.columns[0]: CURRENT_COLOR, aging.on_hold_column: ON_HOLD_COLOR}
    colors.update(zip(aging.overdue_columns, overdue_colors(len(aging.overdue_columns)), strict=True))
    return colors


def render_html(report: Report, generated: datetime | None = None) -> str:
    """The report as one self-contained HTML page: inline CSS and SVG, no scripts, nothing fetched."""
    f = formats_for(report)
    template = _environment().get_template(TEMPLATE)
    return template.render(
        r=report,
        f=f,
        charts=charts(report, f),
        colors=aging_colors(report),
        lang=report.locale.replace("_", "-"),
        grade_rules=grade_rules_text(report, f),
        dso_sentences=[dso_sentence(d, f) for d in report.dso],
        reminder_text=reminder_sentence(report, f),
        methods={
            "dso": DSO_METHOD,
            "best": BEST_DSO_METHOD,
            "default": DEFAULT_RATE_METHOD,
            "payers": PAYER_METHOD,
        },
        version=__version__,
        generated=(generated or datetime.now()).strftime("%Y-%m-%d %H:%M"),
    )


# -- writing files ---------------------------------------------------------------------------


def write_report_file(
    path: Path, text: str, *, encoding: str = "utf-8", protect: Iterable[Path] = (), newline: str | None = None
) -> None:
    """Write a report file atomically, refusing to replace the workbook (or anything that looks like one)."""
    where = str(path)
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        raise ReportWriteError(
            f"{where}: that name is for a workbook; a report is never written over one. Choose a .html or .csv name"
        )
    for kept in protect:
        if path.resolve() == kept.resolve():
            raise ReportWriteError(f"{where}: that is the workbook itself; choose another file name for the report")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ReportWriteError(f"{where}: the folder {folder} does not exist; create it or choose another place")
    if path.is_dir():
        raise ReportWriteError(f"{where}: is a folder; give a file name")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ReportWriteError(f"{where}: cannot write in {folder} ({exc.strerror})") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as fh:
            fh.write(text)
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportWriteError(f"{where}: cannot write the report ({exc.strerror})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_html(report: Report, path: Path, protect: Iterable[Path] = ()) -> None:
    """Write the HTML page to ``path``."""
    write_report_file(path, render_html(report), protect=protect)


def write_csv(report: Report, path: Path, protect: Iterable[Path] = ()) -> None:
    """Write the per-customer CSV to ``path``, UTF-8 with a byte-order mark so Excel reads accents right."""
    write_report_file(path, csv_text(report), encoding="utf-8-sig", protect=protect, newline="")


__all__ = [
    "Formats",
    "ReportWriteError",
    "csv_rows",
    "csv_text",
    "key_figures_line",
    "print_report",
    "render_html",
    "report_json",
    "write_csv",
    "write_html",
]
