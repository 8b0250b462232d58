"""A statement of account as a self-contained HTML page (prints on A4) and as CSV, in the company's locale.

The page holds its styles inline: no script, no font, no image, nothing loaded from
anywhere, so it opens the same offline, in a mail attachment, or printed. Money and
dates are written by the reminders' ``Formatter`` (Babel), the words in English or
Portuguese (Brazil) as the reminders' template language is chosen.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import jinja2

from toolkit.manual import BillingManual
from toolkit.reminders.compose import Formatter, template_language
from toolkit.report.export_safety import safe_cell
from toolkit.statements.build import Statement

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Statement of account",
        "customer": "Customer",
        "as_of": "Date",
        "open_invoices": "Open invoices",
        "invoice": "Invoice",
        "issue_date": "Issue date",
        "due_date": "Due date",
        "amount": "Amount",
        "paid": "Paid",
        "balance": "Balance",
        "days_overdue": "Days overdue",
        "aging": "Aging",
        "in_dispute": "in dispute",
        "no_open": "No open invoices.",
        "aging_summary": "Balance by age",
        "payments": "Payments received",
        "payments_since": "since",
        "paid_on": "Paid on",
        "method": "Method",
        "no_payments": "No payments recorded in this period.",
        "no_payment_dates": "The payment dates are not recorded, so payments received cannot be listed.",
        "credits": "Paid or credited on open invoices",
        "late_charges": "Late charges",
        "description": "Description",
        "total_open": "Open balance",
        "total_late": "Late charges",
        "total_due": "Total due",
        "overdue": "of which overdue",
        "how_to_pay": "How to pay",
        "instructions": "Instructions",
        "payment_link": "Payment link",
        "pix": "Pix",
        "dispute": "If you disagree with an item, please contact",
        "section": "Section",
        "note": "Note",
    },
    "pt_BR": {
        "title": "Extrato de conta",
        "customer": "Cliente",
        "as_of": "Data",
        "open_invoices": "Faturas em aberto",
        "invoice": "Fatura",
        "issue_date": "Emissão",
        "due_date": "Vencimento",
        "amount": "Valor",
        "paid": "Pago",
        "balance": "Saldo",
        "days_overdue": "Dias em atraso",
        "aging": "Faixa",
        "in_dispute": "em disputa",
        "no_open": "Nenhuma fatura em aberto.",
        "aging_summary": "Saldo por faixa de atraso",
        "payments": "Pagamentos recebidos",
        "payments_since": "desde",
        "paid_on": "Pago em",
        "method": "Forma",
        "no_payments": "Nenhum pagamento registrado no período.",
        "no_payment_dates": "As datas de pagamento não são registradas; não é possível listar os pagamentos recebidos.",
        "credits": "Pago ou creditado em faturas em aberto",
        "late_charges": "Encargos por atraso",
        "description": "Descrição",
        "total_open": "Saldo em aberto",
        "total_late": "Encargos por atraso",
        "total_due": "Total devido",
        "overdue": "dos quais vencidos",
        "how_to_pay": "Como pagar",
        "instructions": "Instruções",
        "payment_link": "Link de pagamento",
        "pix": "Pix",
        "dispute": "Se discordar de algum item, entre em contato com",
        "section": "Seção",
        "note": "Observação",
    },
}


@dataclass
class StatementStyle:
    """The words, money and dates of one manual's statements (read once for many statements)."""

    labels: dict[str, str]
    formatter: Formatter
    language: str

    @classmethod
    def of(cls, manual: BillingManual) -> StatementStyle:
        language = template_language(manual)
        labels = LABELS.get(language) or LABELS["pt_BR" if language.lower().startswith("pt") else "en"]
        date_style = str(manual.section("reminders").get("date_format", ""))
        return cls(labels, Formatter(manual.locale, manual.currency, date_style), language)

    def money(self, amount: Decimal) -> str:
        return self.formatter.money(amount)

    def date(self, day: date | None) -> str:
        return self.formatter.date(day) if day is not None else ""


_ENV = jinja2.Environment(
    loader=jinja2.FunctionLoader(
        lambda name: resources.files("toolkit.statements").joinpath(name).read_text(encoding="utf-8")
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(statement: Statement, style: StatementStyle) -> str:
    """The statement as one self-contained HTML page."""
    return _ENV.get_template("statement.html.j2").render(s=statement, t=style.labels, f=style, lang=style.language)


CSV_COLUMNS = (
    "section",
    "invoice",
    "issue_date",
    "due_date",
    "amount",
    "paid",
    "balance",
    "days_overdue",
    "aging",
    "note",
)


def csv_rows(statement: Statement) -> list[list[Any]]:
    """The rows of the CSV: one per open invoice, payment, credit and late charge, then the totals.

    Dates are ISO (YYYY-MM-DD) and amounts plain numbers with a point, so any spreadsheet or
    program reads them the same; customer text is guarded against formula injection.
    """
    rows: list[list[Any]] = []
    for line in statement.open_invoices:
        note = "on hold" if line.on_hold else ""
        rows.append(
            ["open", line.number, _iso(line.issue_date), _iso(line.due_date), line.amount, line.paid, line.balance,
             line.days_overdue, line.aging, note]
        )  # fmt: skip
    for payment in statement.payments:
        rows.append(["payment", payment.invoice, "", "", "", payment.amount, "", "", "",
                     f"paid on {payment.paid_on.isoformat()} {payment.method}".strip()])  # fmt: skip
    for credit in statement.credits:
        rows.append(["credit", credit.invoice, "", "", "", credit.amount, "", "", "", ""])
    for charge in statement.late_charges:
        rows.append(
            ["late_charge", charge.invoice, "", "", charge.amount, "", charge.amount, "", "", charge.description]
        )
    rows.append(["total_open", "", "", "", "", "", statement.total_open, "", "", ""])
    if statement.late_charges:
        rows.append(["total_late_charges", "", "", "", "", "", statement.total_late_charges, "", "", ""])
    rows.append(["total_due", "", "", "", "", "", statement.total_due, "", "", statement.currency])
    return rows


def csv_text(statement: Statement) -> str:
    """The CSV file's text (the header row first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(statement):
        writer.writerow([f"{v:.2f}" if isinstance(v, Decimal) else safe_cell(v) for v in row])
    return out.getvalue()


def _iso(day: date | None) -> str:
    return day.isoformat() if day is not None else ""
